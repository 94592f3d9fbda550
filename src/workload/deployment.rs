//! The Deployment target (reference §3): read the target, render the primary with its configs,
//! HPA and the three Services as initialization steps, observe revision and readiness, promote,
//! scale. Must not route traffic.

use super::configs::{self, Tracked};
use super::readiness::deployment_health;
use super::{Initialization, Observation, Options, Workload, hash_json, hpa, primary};
use super::{ROLLOUT_ID_ANNOTATION, required_target, selector_of};
use crate::error::Error;
use crate::k8s::desired::{ClusterRead, Desired, InitStep, Read, get};
use crate::k8s::write::{merge_patch, read_failed, read_opt, with_retries};
use crate::rollout::Plan;
use crate::router::services;
use crate::spec::model::{Autoscaler, PortRef, Service as ServiceSpec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use std::time::Duration;

/// One canary's Deployment target and its primary.
pub struct DeploymentWorkload<'a> {
    /// The canary's plan (names, readiness thresholds, deadline).
    pub plan: &'a Plan,
    /// Namespace.
    pub namespace: &'a str,
    /// Controller options.
    pub opts: &'a Options,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// `spec.service`: the three Services.
    pub service: &'a ServiceSpec,
    /// `spec.autoscalerRef`.
    pub autoscaler: Option<&'a Autoscaler>,
}

/// The target as read, with what the rest of initialization needs from it.
pub struct Target {
    /// The object.
    pub deployment: Deployment,
    /// Selector label key.
    pub key: String,
    /// Selector label value.
    pub value: String,
    /// Hash of its pod template.
    pub template_hash: String,
}

impl Target {
    /// A target from its Deployment: the selector label is the first of `keys` it has.
    pub fn new(deployment: Deployment, keys: &[String]) -> Result<Target, String> {
        let match_labels = deployment
            .spec
            .selector
            .match_labels
            .clone()
            .unwrap_or_default();
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let (key, value) = selector_of(&format!("deployment/{name}"), &match_labels, keys)?;
        let template_hash = hash_json(&deployment.spec.template);
        Ok(Target {
            deployment,
            key,
            value,
            template_hash,
        })
    }

    /// The target's pod spec.
    pub fn pod_spec(&self) -> k8s_openapi::api::core::v1::PodSpec {
        self.deployment
            .spec
            .template
            .spec
            .clone()
            .unwrap_or_default()
    }
}

impl DeploymentWorkload<'_> {
    fn api(&self, client: &kube::Client) -> Api<Deployment> {
        Api::namespaced(client.clone(), self.namespace)
    }

    fn target(&self) -> &str {
        &self.plan.names.target
    }

    fn primary(&self) -> &str {
        &self.plan.names.primary_workload
    }

    /// Reads the target; a missing target or one without a known selector label is invalid input.
    async fn read_target(&self, read: &dyn Read) -> Result<Target, Error> {
        let deployment = required_target::<Deployment>(read, self.namespace, self.target()).await?;
        Target::new(deployment, &self.opts.selector_labels).map_err(Error::Invalid)
    }

    fn cluster(&self, client: &kube::Client) -> ClusterRead {
        ClusterRead::new(client, self.namespace)
    }

    async fn track(&self, read: &dyn Read, target: &Target) -> Result<Tracked, Error> {
        let workload = format!("deployment/{}", self.target());
        let pod = target.pod_spec();
        configs::track(read, self.namespace, &pod, self.opts, &workload).await
    }

    /// The primary rendered from the target (`id`: the rollout id its pods get).
    fn render_primary(&self, target: &Target, tracked: &Tracked, id: &str) -> Deployment {
        let set = tracked.set();
        let (key, value) = (&target.key, &target.value);
        primary::render(
            &target.deployment,
            key,
            value,
            self.opts,
            &set,
            self.owner,
            id,
        )
    }

    /// A named `targetPort` must be declared by a container of the target.
    fn check_target_port(&self, target: &Target) -> Result<(), Error> {
        let PortRef::Name(port) = &self.service.target_port else {
            return Ok(());
        };
        let pod = target.pod_spec();
        let mut ports = pod.containers.iter().flat_map(|k| k.ports.iter().flatten());
        if ports.any(|p| p.name.as_deref() == Some(port.as_str())) {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "spec.service.targetPort: no container of deployment/{} declares a port named {port:?}",
            self.target()
        )))
    }

    /// The `<hpa>-primary` copy, created once; the HPA must exist.
    async fn hpa(&self, read: &dyn Read, a: &Autoscaler) -> Result<Desired<'static>, Error> {
        let source = get::<HorizontalPodAutoscaler>(read, &a.name).await?;
        let source = source.ok_or_else(|| {
            Error::Invalid(format!(
                "horizontalpodautoscaler/{} (spec.autoscalerRef) does not exist in namespace {}",
                a.name, self.namespace
            ))
        })?;
        let (min, max) = (a.primary_min_replicas, a.primary_max_replicas);
        let want = hpa::render(&source, self.primary(), min, max, self.owner);
        Ok(Desired::create_only(want, "init"))
    }

    /// The primary's promotion merge: the target's pod spec, labels, annotations, strategy and
    /// deadlines; its own selector, and its replicas when an autoscaler owns them.
    fn promoted(&self, want: Deployment, keep_id: bool) -> Desired<'static> {
        let has_autoscaler = self.autoscaler.is_some();
        let name = self.primary().to_string();
        let when = "promotion, if the analysis passes";
        Desired::typed(&name, when, move |current: Option<&Deployment>| {
            let cur = current?;
            let mut next = cur.clone();
            next.metadata.labels = want.metadata.labels.clone();
            next.metadata.annotations = want.metadata.annotations.clone();
            next.spec = want.spec.clone();
            next.spec.replicas = if has_autoscaler {
                cur.spec.replicas
            } else {
                want.spec.replicas
            };
            next.spec.selector = cur.spec.selector.clone();
            if keep_id {
                keep_rollout_id(cur, &mut next);
            }
            Some(next)
        })
    }

    async fn read_primary(&self, client: &kube::Client) -> Result<Option<Deployment>, Error> {
        let name = self.primary();
        read_opt(
            &self.api(client),
            name,
            &format!("reading deployment/{name}"),
        )
        .await
    }
}

/// Keeps the live rollout id on `next` (so `plan` shows only what the user changed).
fn keep_rollout_id(cur: &Deployment, next: &mut Deployment) {
    let annotations = |d: &Deployment| {
        let meta = d.spec.template.metadata.as_ref()?;
        meta.annotations
            .as_ref()?
            .get(ROLLOUT_ID_ANNOTATION)
            .cloned()
    };
    if let (Some(id), Some(meta)) = (annotations(cur), next.spec.template.metadata.as_mut()) {
        let map = meta.annotations.get_or_insert_with(Default::default);
        map.insert(ROLLOUT_ID_ANNOTATION.to_string(), id);
    }
}

#[async_trait::async_trait]
impl Workload for DeploymentWorkload<'_> {
    fn kind(&self) -> (&'static str, &'static str) {
        ("apps/v1", "Deployment")
    }

    /// Flagger's order (reference §2.5): canary and primary Services, the tracked configs and the
    /// primary (when it is missing), the HPA copy, a wait for the primary, the apex Service, the
    /// target scaled to zero (the first time only).
    async fn initialization(
        &self,
        read: &dyn Read,
        first: bool,
    ) -> Result<Initialization<'_>, Error> {
        let target = self.read_target(read).await?;
        self.check_target_port(&target)?;
        let hpa = match self.autoscaler {
            Some(a) => Some(self.hpa(read, a).await?),
            None => None,
        };
        let tracked = self.track(read, &target).await?;
        let primary_exists = get::<Deployment>(read, self.primary()).await?.is_some();
        let pod = target.pod_spec();
        let (ns, owner, service) = (self.namespace, self.owner, self.service);
        let inputs = services::Inputs::new(ns, owner, service, &target.key, &target.value, &pod);
        let missing = (!primary_exists).then(|| {
            let id = uuid::Uuid::new_v4().to_string();
            let primary = self.render_primary(&target, &tracked, &id);
            let copies = tracked.copies(self.opts, owner);
            (copies, Desired::create_only(primary, "init"))
        });
        let mut steps = super::primary_init_steps(&inputs, missing, hpa);
        let replicas = target.deployment.spec.replicas.unwrap_or(1);
        if first && replicas != 0 {
            let object = format!("deployment/{}", self.target());
            steps.push(InitStep::ScaleTargetToZero { object, replicas });
        }
        Ok(Initialization {
            steps,
            revision: target.template_hash,
            tracked_configs: tracked.checksums(),
            uid: target.deployment.metadata.uid,
        })
    }

    async fn promotion(
        &self,
        read: &dyn Read,
        id: Option<&str>,
    ) -> Result<Vec<Desired<'_>>, Error> {
        let target = self.read_target(read).await?;
        let tracked = self.track(read, &target).await?;
        let mut want = self.render_primary(&target, &tracked, id.unwrap_or_default());
        let meta = &target.deployment.metadata;
        want.metadata.annotations =
            Some(primary::promoted_annotations(meta, self.opts, self.owner));
        let mut out = tracked.copies(self.opts, self.owner);
        out.push(self.promoted(want, id.is_none()));
        Ok(out)
    }

    async fn observe(&self, client: &kube::Client) -> Result<Observation, Error> {
        let read = self.cluster(client);
        let target = self.read_target(&read).await?;
        let tracked = self.track(&read, &target).await?;
        let plan = self.plan;
        let now = k8s_openapi::jiff::Timestamp::now();
        let deadline = plan.progress_deadline;
        let canary = deployment_health(
            &target.deployment,
            plan.canary_ready_threshold,
            deadline,
            now,
        );
        let name = self.primary();
        let primary = self
            .read_primary(client)
            .await?
            .ok_or_else(|| Error::Infra(format!("deployment/{name} is missing; run init again")))?;
        let primary = deployment_health(&primary, plan.primary_ready_threshold, deadline, now);
        Ok(Observation {
            revision: target.template_hash,
            tracked_configs: tracked.checksums(),
            canary,
            primary,
        })
    }

    async fn wait_primary_ready(
        &self,
        client: &kube::Client,
        timeout: Duration,
    ) -> Result<(), Error> {
        let (api, name) = (self.api(client), self.primary());
        let (threshold, deadline) = (
            self.plan.primary_ready_threshold,
            self.plan.progress_deadline,
        );
        super::wait_ready(timeout, || async {
            let what = format!("reading deployment/{name}");
            let dep = with_retries(&what, || api.get(name))
                .await
                .map_err(|e| read_failed(&what, e))?;
            let now = k8s_openapi::jiff::Timestamp::now();
            Ok(deployment_health(&dep, threshold, deadline, now))
        })
        .await
    }

    async fn scale_to_zero(&self, client: &kube::Client) -> Result<bool, Error> {
        let target = self.read_target(&self.cluster(client)).await?;
        if target.deployment.spec.replicas == Some(0) {
            return Ok(false);
        }
        let what = format!("scaling deployment/{} to 0", self.target());
        let patch = serde_json::json!({"spec": {"replicas": 0}});
        merge_patch(&self.api(client), self.target(), &what, patch)
            .await
            .map(|_| true)
            .map_err(|e| match e {
                Error::Infra(m) => Error::Infra(m),
                other => Error::Infra(format!("{what}: {other}")),
            })
    }

    /// Scales the target back up for a new revision (§3.4), to [`replicas_from_zero`].
    async fn scale_from_zero(&self, client: &kube::Client) -> Result<(), Error> {
        let target = self.read_target(&self.cluster(client)).await?;
        let primary = self.read_primary(client).await?;
        let replicas = replicas_from_zero(
            target.deployment.spec.replicas,
            primary.and_then(|p| p.spec.replicas),
            None,
        );
        let what = format!("scaling deployment/{} to {replicas}", self.target());
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        merge_patch(&self.api(client), self.target(), &what, patch).await?;
        Ok(())
    }
}

/// Flagger's `ScaleFromZero` choice (§3.4): the target's replicas if above 0; else, without an
/// autoscaler, the primary's if above 0; else the HPA's `minReplicas` if above 1; else 1.
pub fn replicas_from_zero(target: Option<i32>, primary: Option<i32>, hpa_min: Option<i32>) -> i32 {
    if let Some(t) = target.filter(|t| *t > 0) {
        return t;
    }
    match hpa_min {
        None => primary.filter(|p| *p > 0).unwrap_or(1),
        Some(m) if m > 1 => m,
        Some(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::replicas_from_zero;

    #[test]
    fn scale_from_zero_follows_flagger() {
        assert_eq!(replicas_from_zero(Some(3), Some(5), None), 3);
        assert_eq!(replicas_from_zero(Some(0), Some(5), None), 5);
        assert_eq!(
            replicas_from_zero(Some(0), Some(5), Some(4)),
            4,
            "with an HPA the primary's count is not used"
        );
        assert_eq!(replicas_from_zero(Some(0), Some(5), Some(1)), 1);
        assert_eq!(replicas_from_zero(None, None, None), 1);
    }
}
