//! Service targets (reference §3.8): `<svc>-canary` tracks the target Service's spec, and
//! `<svc>-primary` is created once. No scaling, no config tracking, always ready.

use super::{Initialization, Observation, Options, Workload, hash_json, include_by_prefix};
use crate::error::Error;
use crate::k8s::desired::{ClusterRead, Desired, InitStep, Read, apply};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::rollout::{Health, Plan, canary_name, primary_name};
use crate::spec::model::TrafficDistribution;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::time::Duration;

/// A copy of `target` named `name` (Flagger's `buildService`): its spec without the allocated
/// addresses (with the canary's `trafficDistribution` when set), its metadata without kubectl's
/// last-applied annotation, plus canary-gate's ownership marks.
pub fn render_copy(
    target: &Service,
    name: &str,
    owner: &str,
    distribution: Option<&str>,
) -> Service {
    let mut spec = target.spec.clone().unwrap_or_default();
    if spec.cluster_ip.as_deref() != Some("None") {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    for p in spec.ports.iter_mut().flatten() {
        p.node_port = None;
    }
    if let Some(d) = distribution {
        spec.traffic_distribution = Some(d.to_string());
    }
    let labels = target.metadata.labels.clone().unwrap_or_default();
    let annotations = target.metadata.annotations.clone().unwrap_or_default();
    Service {
        metadata: marked(name, target, labels, annotations, owner),
        spec: Some(spec),
        status: None,
    }
}

/// `name`'s metadata: `labels` and `annotations` (kubectl's last-applied dropped) with
/// canary-gate's ownership marks.
fn marked(
    name: &str,
    target: &Service,
    mut labels: BTreeMap<String, String>,
    mut annotations: BTreeMap<String, String>,
    owner: &str,
) -> ObjectMeta {
    labels
        .entry(MANAGED_BY.0.to_string())
        .or_insert_with(|| MANAGED_BY.1.to_string());
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(OWNER_ANNOTATION.to_string(), owner.to_string());
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: target.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

/// The hash that detects a new revision of a Service target (its spec).
pub fn spec_hash(target: &Service) -> String {
    hash_json(&target.spec)
}

/// One canary's Service target: `<svc>-canary` follows it, `<svc>-primary` is its promoted copy.
pub struct ServiceWorkload<'a> {
    /// The canary's plan (names).
    pub plan: &'a Plan,
    /// Namespace.
    pub namespace: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The cluster options (`--include-label-prefix`).
    pub opts: &'a Options,
}

impl ServiceWorkload<'_> {
    async fn read_target(&self, read: &dyn Read) -> Result<Service, Error> {
        super::required_target::<Service>(read, self.namespace, &self.plan.names.target).await
    }

    /// `spec.service.trafficDistribution`, which the copies carry.
    fn distribution(&self) -> Option<&'static str> {
        let d = self.plan.service.as_ref()?.traffic_distribution?;
        Some(match d {
            TrafficDistribution::PreferClose => "PreferClose",
            TrafficDistribution::PreferSameZone => "PreferSameZone",
            TrafficDistribution::PreferSameNode => "PreferSameNode",
        })
    }

    /// `<target>-canary`: created, or given the target's spec (its own allocated addresses
    /// kept) and the target's labels and annotations in place of its own, as Flagger rebuilds it.
    fn canary_copy(&self, target: &Service) -> Desired<'static> {
        let name = canary_name(&self.plan.names.target);
        let want = render_copy(target, &name, self.owner, self.distribution());
        Desired::typed(
            &name,
            "init, and whenever the target changes",
            move |current: Option<&Service>| Some(keep_addresses(current, want.clone())),
        )
    }

    /// `<target>-primary` at promotion: the target's spec (its own addresses kept), and of the
    /// target's labels and annotations only those `--include-label-prefix` admits (Flagger's
    /// `Promote`; none by default).
    fn promoted(&self, target: &Service) -> Desired<'static> {
        let name = primary_name(&self.plan.names.target);
        let keep = |m: &Option<BTreeMap<String, String>>| {
            include_by_prefix(
                &m.clone().unwrap_or_default(),
                &self.opts.include_label_prefixes,
            )
        };
        let meta = &target.metadata;
        let mut want = render_copy(target, &name, self.owner, None);
        want.metadata = marked(
            &name,
            target,
            keep(&meta.labels),
            keep(&meta.annotations),
            self.owner,
        );
        Desired::typed(
            &name,
            "promotion, if the analysis passes",
            move |current: Option<&Service>| Some(keep_addresses(current, want.clone())),
        )
    }
}

/// `want` with the live object's allocated cluster IPs and server metadata (so an unchanged
/// copy compares equal).
fn keep_addresses(current: Option<&Service>, want: Service) -> Service {
    let Some(cur) = current else {
        return want;
    };
    let mut next = cur.clone();
    let live = cur.spec.clone().unwrap_or_default();
    let mut spec = want.spec.unwrap_or_default();
    spec.cluster_ip = live.cluster_ip;
    spec.cluster_ips = live.cluster_ips;
    next.spec = Some(spec);
    next.metadata.labels = want.metadata.labels;
    next.metadata.annotations = want.metadata.annotations;
    next
}

#[async_trait::async_trait]
impl Workload for ServiceWorkload<'_> {
    fn kind(&self) -> (&'static str, &'static str) {
        ("v1", "Service")
    }

    async fn initialization(
        &self,
        read: &dyn Read,
        _first: bool,
    ) -> Result<Initialization<'_>, Error> {
        let target = self.read_target(read).await?;
        let name = &self.plan.names.primary_workload;
        let primary = render_copy(&target, name, self.owner, self.distribution());
        Ok(Initialization {
            steps: vec![
                InitStep::Apply(self.canary_copy(&target)),
                InitStep::Apply(Desired::create_only(primary, "init")),
            ],
            revision: spec_hash(&target),
            tracked_configs: Default::default(),
            uid: target.metadata.uid,
        })
    }

    async fn promotion(
        &self,
        read: &dyn Read,
        _id: Option<&str>,
    ) -> Result<Vec<Desired<'_>>, Error> {
        let target = self.read_target(read).await?;
        Ok(vec![self.promoted(&target)])
    }

    /// `-canary` follows the target at every observation; a Service is always ready.
    async fn observe(&self, client: &kube::Client) -> Result<Observation, Error> {
        let target = self.read_target(&self.cluster(client)).await?;
        apply(client, self.namespace, &self.canary_copy(&target)).await?;
        Ok(Observation {
            revision: spec_hash(&target),
            tracked_configs: Default::default(),
            canary: Health::Ready,
            primary: Health::Ready,
        })
    }

    async fn wait_primary_ready(&self, _: &kube::Client, _: Duration) -> Result<(), Error> {
        Ok(())
    }

    async fn scale_to_zero(&self, _client: &kube::Client) -> Result<bool, Error> {
        Ok(false)
    }

    async fn scale_from_zero(&self, _client: &kube::Client) -> Result<(), Error> {
        Ok(())
    }
}

impl ServiceWorkload<'_> {
    fn cluster(&self, client: &kube::Client) -> ClusterRead {
        ClusterRead::new(client, self.namespace)
    }
}
