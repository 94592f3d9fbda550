//! Applying the Deployment controller: read the target, create the primary (with its configs and
//! HPA) once, wait for readiness, scale. Must not route traffic.

use super::configs::{self, Tracked};
use super::readiness::deployment_health;
use super::{Options, hash_json, hpa, primary, selector_label};
use crate::error::Error;
use crate::k8s::write::{Outcome, ensure, failed, merge_patch, read_opt, with_retries};
use crate::rollout::Health;
use crate::spec::model::Autoscaler;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use std::time::{Duration, Instant};

/// One canary's Deployment target and its primary.
pub struct DeploymentWorkload<'a> {
    /// The client.
    pub client: &'a kube::Client,
    /// Namespace.
    pub namespace: &'a str,
    /// The target Deployment's name.
    pub target: &'a str,
    /// Controller options.
    pub opts: &'a Options,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
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
        let (key, value) = selector_label(&match_labels, keys).ok_or_else(|| {
            format!(
                "deployment/{name}: spec.selector.matchLabels must contain one of [{}] (--selector-labels)",
                keys.join(", ")
            )
        })?;
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
    fn api(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), self.namespace)
    }

    fn primary_name(&self) -> String {
        format!("{}-primary", self.target)
    }

    /// Reads the target; a missing target or one without a known selector label is invalid input.
    pub async fn read_target(&self) -> Result<Target, Error> {
        let what = format!("reading deployment/{}", self.target);
        let api = self.api();
        let found = read_opt(&api, self.target, &what).await?;
        let deployment = found.ok_or_else(|| {
            Error::Invalid(format!(
                "deployment/{} (spec.targetRef) does not exist in namespace {}",
                self.target, self.namespace
            ))
        })?;
        Target::new(deployment, &self.opts.selector_labels).map_err(Error::Invalid)
    }

    /// The primary rendered from the target with a fresh rollout id.
    fn render_primary(&self, target: &Target, tracked: &Tracked) -> Deployment {
        let id = uuid::Uuid::new_v4().to_string();
        primary::render(
            &target.deployment,
            &target.key,
            &target.value,
            self.opts,
            &tracked.set,
            self.owner,
            &id,
        )
    }

    /// Creates the primary (configs first) when it is missing; returns whether it was created and
    /// the tracked configs.
    pub async fn initialize(&self, target: &Target) -> Result<(bool, Tracked), Error> {
        let api = self.api();
        let name = self.primary_name();
        let what = format!("reading deployment/{name}");
        let exists = read_opt(&api, &name, &what).await?.is_some();
        let tracked = self.track(target, !exists).await?;
        if exists {
            return Ok((false, tracked));
        }
        let desired = self.render_primary(target, &tracked);
        let outcome = ensure(
            &api,
            &name,
            &format!("deployment/{name}"),
            |current| match current {
                Some(_) => None,
                None => Some(desired.clone()),
            },
        )
        .await?;
        Ok((outcome == Outcome::Created, tracked))
    }

    /// Creates `<hpa>-primary` when the canary has an HPA and the copy is missing.
    pub async fn initialize_hpa(&self, autoscaler: &Autoscaler) -> Result<Outcome, Error> {
        let api: Api<HorizontalPodAutoscaler> =
            Api::namespaced(self.client.clone(), self.namespace);
        let what = format!("reading horizontalpodautoscaler/{}", autoscaler.name);
        let source = read_opt(&api, &autoscaler.name, &what).await?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "horizontalpodautoscaler/{} (spec.autoscalerRef) does not exist in namespace {}",
                    autoscaler.name, self.namespace
                ))
            })?;
        let desired = hpa::render(
            &source,
            &self.primary_name(),
            autoscaler.primary_min_replicas,
            autoscaler.primary_max_replicas,
            self.owner,
        );
        let name = format!("{}-primary", autoscaler.name);
        ensure(
            &api,
            &name,
            &format!("horizontalpodautoscaler/{name}"),
            |current| match current {
                Some(_) => None,
                None => Some(desired.clone()),
            },
        )
        .await
    }

    /// Waits until the primary is ready; `Stuck` or `timeout` is an infrastructure error naming
    /// the Deployment's condition.
    pub async fn wait_primary_ready(
        &self,
        threshold: u32,
        deadline: Duration,
        timeout: Duration,
    ) -> Result<(), Error> {
        let api = self.api();
        let name = self.primary_name();
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let what = format!("reading deployment/{name}");
            let dep = with_retries(&what, || api.get(&name))
                .await
                .map_err(|e| failed(&what, &e))?;
            match deployment_health(
                &dep,
                threshold,
                deadline,
                k8s_openapi::jiff::Timestamp::now(),
            ) {
                Health::Ready => return Ok(()),
                Health::Stuck(why) => {
                    return Err(Error::Infra(format!(
                        "the primary is not ready, so traffic was not moved: {why}"
                    )));
                }
                Health::Waiting(why) => {
                    if why != last {
                        tracing::info!("waiting for the primary: {why}");
                        last = why;
                    }
                }
            }
            if started.elapsed() >= timeout {
                return Err(Error::Infra(format!(
                    "the primary was not ready after {}s, so traffic was not moved: {last}",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The configs the target references (copied to `-primary` when `copy`).
    pub async fn track(&self, target: &Target, copy: bool) -> Result<Tracked, Error> {
        let workload = format!("deployment/{}", self.target);
        configs::track(
            self.client,
            self.namespace,
            &target.pod_spec(),
            self.opts,
            self.owner,
            &workload,
            copy,
        )
        .await
    }

    /// Promotion (§3.5): configs re-synced, then the primary gets the target's pod spec (configs
    /// re-pointed), labels, annotations, strategy and deadlines, a new rollout id, and the
    /// target's replicas unless an autoscaler owns them.
    pub async fn promote(&self, target: &Target, has_autoscaler: bool) -> Result<(), Error> {
        let tracked = self.track(target, true).await?;
        let desired = self.render_primary(target, &tracked);
        let name = self.primary_name();
        ensure(
            &self.api(),
            &name,
            &format!("promoting deployment/{name}"),
            |current| {
                let cur = current?;
                let mut next = cur.clone();
                next.metadata.labels = desired.metadata.labels.clone();
                next.metadata.annotations = desired.metadata.annotations.clone();
                let replicas = if has_autoscaler {
                    cur.spec.replicas
                } else {
                    desired.spec.replicas
                };
                next.spec = desired.spec.clone();
                next.spec.replicas = replicas;
                next.spec.selector = cur.spec.selector.clone();
                Some(next)
            },
        )
        .await?;
        Ok(())
    }

    /// The primary's readiness now.
    pub async fn primary_health(
        &self,
        threshold: u32,
        deadline: Duration,
    ) -> Result<Health, Error> {
        let name = self.primary_name();
        let what = format!("reading deployment/{name}");
        let dep = read_opt(&self.api(), &name, &what)
            .await?
            .ok_or_else(|| Error::Infra(format!("deployment/{name} is missing; run init again")))?;
        Ok(deployment_health(
            &dep,
            threshold,
            deadline,
            k8s_openapi::jiff::Timestamp::now(),
        ))
    }

    /// Scales the target back up for a new revision (§3.4), to [`replicas_from_zero`].
    pub async fn scale_target_from_zero(
        &self,
        target: &Target,
        hpa_min: Option<i32>,
    ) -> Result<i32, Error> {
        let api = self.api();
        let primary = read_opt(
            &api,
            &self.primary_name(),
            &format!("reading deployment/{}", self.primary_name()),
        )
        .await?;
        let replicas = replicas_from_zero(
            target.deployment.spec.replicas,
            primary.and_then(|p| p.spec.replicas),
            hpa_min,
        );
        let what = format!("scaling deployment/{} to {replicas}", self.target);
        merge_patch(
            &api,
            self.target,
            &what,
            serde_json::json!({"spec": {"replicas": replicas}}),
        )
        .await?;
        Ok(replicas)
    }

    /// Scales the target to zero (only ever after the apex selects the primary).
    pub async fn scale_target_to_zero(&self, target: &Target) -> Result<bool, Error> {
        if target.deployment.spec.replicas == Some(0) {
            return Ok(false);
        }
        let what = format!("scaling deployment/{} to 0", self.target);
        merge_patch(
            &self.api(),
            self.target,
            &what,
            serde_json::json!({"spec": {"replicas": 0}}),
        )
        .await
        .map(|_| true)
        .map_err(|e| match e {
            Error::Infra(m) => Error::Infra(m),
            other => Error::Infra(format!("{what}: {other}")),
        })
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

/// `kubectl set image`: each `CONTAINER=IMAGE` on the container (or init container) of that name.
pub fn set_images(d: &mut Deployment, images: &[String]) -> Result<(), String> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let pod = d.spec.template.spec.get_or_insert_with(Default::default);
    for i in images {
        let Some((container, image)) = i.split_once('=') else {
            return Err(format!("--image {i:?}: expected CONTAINER=IMAGE"));
        };
        let mut all = pod
            .containers
            .iter_mut()
            .chain(pod.init_containers.iter_mut().flatten());
        match all.find(|c| c.name == container) {
            Some(c) => c.image = Some(image.to_string()),
            None => {
                let names: Vec<&str> = pod
                    .containers
                    .iter()
                    .chain(pod.init_containers.iter().flatten())
                    .map(|c| c.name.as_str())
                    .collect();
                return Err(format!(
                    "--image: deployment/{name} has no container {container:?} (it has: {})",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(())
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
