//! The DaemonSet target (reference §3.8, Flagger's `DaemonSetController`): the `<name>-primary`
//! DaemonSet with its tracked configs and the three Services as initialization steps; "scaled to
//! zero" by a node selector no node matches (`flagger.app/scale-to-zero: "true"`) and back by
//! removing it; readiness from DaemonSet status; the revision is the pod template without that
//! node selector. Must not route traffic.

use super::configs::{self, Tracked};
use super::readiness::daemonset_health;
use super::{Initialization, Observation, Options, Workload, hash_json, primary};
use super::{required_target, selector_of};
use crate::error::Error;
use crate::k8s::desired::{ClusterRead, Desired, InitStep, Read, get};
use crate::k8s::write::{merge_patch, read_failed, with_retries};
use crate::rollout::Plan;
use crate::router::services;
use crate::spec::model::Service as ServiceSpec;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::Api;
use std::time::Duration;

/// The node selector that keeps a DaemonSet's pods off every node (Flagger's scale to zero).
pub const SCALE_TO_ZERO: (&str, &str) = ("flagger.app/scale-to-zero", "true");

/// One canary's DaemonSet target and its primary.
pub struct DaemonSetWorkload<'a> {
    /// The canary's plan (names, readiness thresholds).
    pub plan: &'a Plan,
    /// Namespace.
    pub namespace: &'a str,
    /// Controller options.
    pub opts: &'a Options,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// `spec.service`: the three Services.
    pub service: &'a ServiceSpec,
}

/// The target as read: the object, its selector label and its revision.
struct Target {
    ds: DaemonSet,
    key: String,
    value: String,
    revision: String,
}

/// `template` without the scale-to-zero node selector (an emptied selector becomes none), so a
/// target scaled to zero has the revision it had before.
fn without_scale_to_zero(mut template: PodTemplateSpec) -> PodTemplateSpec {
    if let Some(spec) = template.spec.as_mut() {
        if let Some(sel) = spec.node_selector.as_mut() {
            sel.remove(SCALE_TO_ZERO.0);
        }
        if spec.node_selector.as_ref().is_some_and(|s| s.is_empty()) {
            spec.node_selector = None;
        }
    }
    template
}

fn scaled_to_zero(ds: &DaemonSet) -> bool {
    ds.spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.node_selector.as_ref())
        .and_then(|s| s.get(SCALE_TO_ZERO.0))
        .is_some_and(|v| v == SCALE_TO_ZERO.1)
}

impl DaemonSetWorkload<'_> {
    fn api(&self, client: &kube::Client) -> Api<DaemonSet> {
        Api::namespaced(client.clone(), self.namespace)
    }

    fn target(&self) -> &str {
        &self.plan.names.target
    }

    fn primary(&self) -> &str {
        &self.plan.names.primary_workload
    }

    /// Reads the target: it must exist, update by `RollingUpdate` and carry a selector label.
    async fn read_target(&self, read: &dyn Read) -> Result<Target, Error> {
        let name = self.target();
        let ds = required_target::<DaemonSet>(read, self.namespace, name).await?;
        let spec = ds.spec.clone();
        let strategy = spec.update_strategy.as_ref().and_then(|s| s.type_.clone());
        if let Some(other) = strategy.filter(|t| t != "RollingUpdate") {
            return Err(Error::Invalid(format!(
                "daemonset/{name} must have the RollingUpdate update strategy, not {other} (the primary takes over node by node)"
            )));
        }
        let labels = spec.selector.match_labels.clone().unwrap_or_default();
        let what = format!("daemonset/{name}");
        let (key, value) =
            selector_of(&what, &labels, &self.opts.selector_labels).map_err(Error::Invalid)?;
        let revision = hash_json(&without_scale_to_zero(spec.template));
        Ok(Target {
            ds,
            key,
            value,
            revision,
        })
    }

    fn cluster(&self, client: &kube::Client) -> ClusterRead {
        ClusterRead::new(client, self.namespace)
    }

    async fn track(&self, read: &dyn Read, target: &Target) -> Result<Tracked, Error> {
        let workload = format!("daemonset/{}", self.target());
        let spec = target.ds.spec.clone();
        let pod = spec.template.spec.unwrap_or_default();
        configs::track(read, self.namespace, &pod, self.opts, &workload).await
    }

    /// The primary DaemonSet: the shared primary parts, the target's update settings, and no
    /// scale-to-zero node selector (the primary always runs).
    fn render_primary(&self, target: &Target, tracked: &Tracked, id: &str) -> DaemonSet {
        let spec = target.ds.spec.clone();
        let template = without_scale_to_zero(spec.template.clone());
        let set = tracked.set();
        let (key, value) = (&target.key, &target.value);
        let (opts, owner) = (self.opts, self.owner);
        let p = primary::parts(
            &target.ds.metadata,
            &template,
            key,
            value,
            opts,
            &set,
            owner,
            id,
        );
        DaemonSet {
            metadata: p.meta,
            spec: DaemonSetSpec {
                min_ready_seconds: spec.min_ready_seconds,
                revision_history_limit: spec.revision_history_limit,
                update_strategy: spec.update_strategy,
                selector: p.selector,
                template: p.template,
            },
            status: None,
        }
    }

    /// Promotion's merge: the rendered primary with the live selector (immutable).
    fn promoted(&self, want: DaemonSet) -> Desired<'static> {
        let name = self.primary().to_string();
        let when = "promotion, if the analysis passes";
        Desired::typed(&name, when, move |current: Option<&DaemonSet>| {
            let cur = current?;
            let mut next = cur.clone();
            next.metadata.labels = want.metadata.labels.clone();
            next.metadata.annotations = want.metadata.annotations.clone();
            next.spec = want.spec.clone();
            next.spec.selector = cur.spec.selector.clone();
            Some(next)
        })
    }

    async fn read(&self, client: &kube::Client, name: &str) -> Result<DaemonSet, Error> {
        let what = format!("reading daemonset/{name}");
        let api = self.api(client);
        with_retries(&what, || api.get(name))
            .await
            .map_err(|e| read_failed(&what, e))
    }

    /// Sets (`Some`) or removes (`None`) the scale-to-zero node selector on the target.
    async fn node_selector(&self, client: &kube::Client, value: Option<&str>) -> Result<(), Error> {
        let what = match value {
            Some(_) => format!("scaling daemonset/{} to zero nodes", self.target()),
            None => format!("scaling daemonset/{} back to its nodes", self.target()),
        };
        let patch = serde_json::json!({"spec": {"template": {"spec": {"nodeSelector": {SCALE_TO_ZERO.0: value}}}}});
        merge_patch(&self.api(client), self.target(), &what, patch).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Workload for DaemonSetWorkload<'_> {
    fn kind(&self) -> (&'static str, &'static str) {
        ("apps/v1", "DaemonSet")
    }

    /// Flagger's order: canary and primary Services, the tracked configs and the primary (when
    /// it is missing), a wait for the primary, the apex Service, the target off its nodes (the
    /// first time only).
    async fn initialization(
        &self,
        read: &dyn Read,
        first: bool,
    ) -> Result<Initialization<'_>, Error> {
        let target = self.read_target(read).await?;
        let tracked = self.track(read, &target).await?;
        let primary_exists = get::<DaemonSet>(read, self.primary()).await?.is_some();
        let spec = target.ds.spec.clone();
        let pod = spec.template.spec.unwrap_or_default();
        let (ns, owner, service) = (self.namespace, self.owner, self.service);
        let inputs = services::Inputs::new(ns, owner, service, &target.key, &target.value, &pod);
        let missing = (!primary_exists).then(|| {
            let id = uuid::Uuid::new_v4().to_string();
            let primary = self.render_primary(&target, &tracked, &id);
            let copies = tracked.copies(self.opts, owner);
            (copies, Desired::create_only(primary, "init"))
        });
        let mut steps = super::primary_init_steps(&inputs, missing, None);
        if first && !scaled_to_zero(&target.ds) {
            let object = format!("daemonset/{}", self.target());
            let replicas = target
                .ds
                .status
                .as_ref()
                .map_or(0, |s| s.desired_number_scheduled);
            steps.push(InitStep::ScaleTargetToZero { object, replicas });
        }
        Ok(Initialization {
            steps,
            revision: target.revision,
            tracked_configs: tracked.checksums(),
            uid: target.ds.metadata.uid,
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
        let meta = &target.ds.metadata;
        want.metadata.annotations =
            Some(primary::promoted_annotations(meta, self.opts, self.owner));
        if id.is_none()
            && let Some(live) = get::<DaemonSet>(read, self.primary()).await?
        {
            keep_rollout_id(&live, &mut want);
        }
        let mut out = tracked.copies(self.opts, self.owner);
        out.push(self.promoted(want));
        Ok(out)
    }

    async fn observe(&self, client: &kube::Client) -> Result<Observation, Error> {
        let read = self.cluster(client);
        let target = self.read_target(&read).await?;
        let tracked = self.track(&read, &target).await?;
        let primary = self.read(client, self.primary()).await?;
        let plan = self.plan;
        Ok(Observation {
            revision: target.revision,
            tracked_configs: tracked.checksums(),
            canary: daemonset_health(&target.ds, plan.canary_ready_threshold),
            primary: daemonset_health(&primary, plan.primary_ready_threshold),
        })
    }

    async fn wait_primary_ready(
        &self,
        client: &kube::Client,
        timeout: Duration,
    ) -> Result<(), Error> {
        let (name, threshold) = (self.primary(), self.plan.primary_ready_threshold);
        super::wait_ready(timeout, || async {
            Ok(daemonset_health(&self.read(client, name).await?, threshold))
        })
        .await
    }

    async fn scale_to_zero(&self, client: &kube::Client) -> Result<bool, Error> {
        let target = self.read_target(&self.cluster(client)).await?;
        if scaled_to_zero(&target.ds) {
            return Ok(false);
        }
        self.node_selector(client, Some(SCALE_TO_ZERO.1)).await?;
        Ok(true)
    }

    async fn scale_from_zero(&self, client: &kube::Client) -> Result<(), Error> {
        self.node_selector(client, None).await
    }

    fn owns_deadline(&self) -> bool {
        false
    }
}

/// Keeps the live rollout id on `want` (so `plan` shows only what the user changed).
fn keep_rollout_id(live: &DaemonSet, want: &mut DaemonSet) {
    let id = live
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(super::ROLLOUT_ID_ANNOTATION))
        .cloned();
    let meta = want.spec.template.metadata.as_mut();
    if let (Some(id), Some(meta)) = (id, meta) {
        let map = meta.annotations.get_or_insert_with(Default::default);
        map.insert(super::ROLLOUT_ID_ANNOTATION.to_string(), id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_scale_to_zero_selector_is_not_part_of_the_revision() {
        let t = |sel: serde_json::Value| -> PodTemplateSpec {
            serde_json::from_value(
                json!({"spec": {"containers": [{"name": "a"}], "nodeSelector": sel}}),
            )
            .unwrap()
        };
        let plain = hash_json(&without_scale_to_zero(t(json!(null))));
        assert_eq!(
            hash_json(&without_scale_to_zero(t(json!({SCALE_TO_ZERO.0: "true"})))),
            plain
        );
        assert_eq!(hash_json(&without_scale_to_zero(t(json!({})))), plain);
        assert_ne!(
            hash_json(&without_scale_to_zero(t(json!({"disk": "ssd"})))),
            plain
        );
    }
}
