//! Service targets (reference §3.8): `<svc>-canary` tracks the target Service's spec, and
//! `<svc>-primary` is created once. No scaling, no config tracking, always ready.

use super::{Initialization, Observation, Workload, hash_json};
use crate::error::Error;
use crate::k8s::desired::{ClusterRead, Desired, InitStep, Read, apply, get};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::rollout::{Health, Plan, canary_name, primary_name};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::time::Duration;

/// A copy of `target` named `name`: its spec without the allocated addresses, its metadata
/// without kubectl's last-applied annotation, plus canary-gate's ownership marks.
pub fn render_copy(target: &Service, name: &str, owner: &str) -> Service {
    let mut spec = target.spec.clone().unwrap_or_default();
    if spec.cluster_ip.as_deref() != Some("None") {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    for p in spec.ports.iter_mut().flatten() {
        p.node_port = None;
    }
    let mut labels = target.metadata.labels.clone().unwrap_or_default();
    labels
        .entry(MANAGED_BY.0.to_string())
        .or_insert_with(|| MANAGED_BY.1.to_string());
    let mut annotations = target.metadata.annotations.clone().unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(OWNER_ANNOTATION.to_string(), owner.to_string());
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: target.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
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
}

impl ServiceWorkload<'_> {
    async fn read_target(&self, read: &dyn Read) -> Result<Service, Error> {
        let name = &self.plan.names.target;
        get::<Service>(read, name).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "service/{name} (spec.targetRef) does not exist in namespace {}",
                self.namespace
            ))
        })
    }

    /// A copy of the target (`primary` or canary), created, or given the target's spec (its own
    /// allocated addresses kept) and, when `metadata`, its labels and annotations.
    fn copy(&self, target: &Service, primary: bool, metadata: bool) -> Desired<'static> {
        let target_name = &self.plan.names.target;
        let name = if primary {
            primary_name(target_name)
        } else {
            canary_name(target_name)
        };
        let want = render_copy(target, &name, self.owner);
        let when = if metadata {
            "promotion, if the analysis passes"
        } else {
            "init"
        };
        Desired::typed(&name, when, move |current: Option<&Service>| {
            let Some(cur) = current else {
                return Some(want.clone());
            };
            let mut next = cur.clone();
            let live = cur.spec.clone().unwrap_or_default();
            let mut spec = want.spec.clone().unwrap_or_default();
            spec.cluster_ip = live.cluster_ip;
            spec.cluster_ips = live.cluster_ips;
            next.spec = Some(spec);
            if metadata {
                next.metadata.labels = want.metadata.labels.clone();
                next.metadata.annotations = want.metadata.annotations.clone();
            }
            Some(next)
        })
    }
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
        let primary = render_copy(&target, &self.plan.names.primary_workload, self.owner);
        Ok(Initialization {
            steps: vec![
                InitStep::Apply(self.copy(&target, false, false)),
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
        Ok(vec![self.copy(&target, true, true)])
    }

    /// `-canary` follows the target at every observation; a Service is always ready.
    async fn observe(&self, client: &kube::Client) -> Result<Observation, Error> {
        let target = self.read_target(&self.cluster(client)).await?;
        apply(client, self.namespace, &self.copy(&target, false, false)).await?;
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
