//! Knative Service targets (provider `knative`, Flagger v1.44's `KnativeController`): no copies
//! and no Services. The primary is a Revision of the target, named in its annotation
//! `flagger.app/primary-revision`; the canary is the latest Revision Knative created
//! (`status.latestCreatedRevisionName`), which is also the revision a rollout analyses.
//! Initialization names the primary and pins all traffic on it; promotion names the latest
//! Revision. Readiness is each Revision's `Ready` condition. Must not route traffic (the Knative
//! router moves `spec.traffic`) or decide the rollout.

use super::{Initialization, Observation, Workload};
use crate::error::Error;
use crate::k8s::desired::{ClusterRead, Desired, InitStep, Read};
use crate::rollout::{Health, Plan};
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Value, json};
use std::time::Duration;

/// The Knative Service `apiVersion`.
pub const API_VERSION: &str = "serving.knative.dev/v1";
/// The annotation naming the primary Revision (Flagger's).
pub const PRIMARY_REVISION: &str = "flagger.app/primary-revision";

/// The Knative Service resource.
pub fn service_resource() -> ApiResource {
    crate::router::owned::resource(API_VERSION, "Service")
}

fn revision_resource() -> ApiResource {
    crate::router::owned::resource(API_VERSION, "Revision")
}

/// The latest Revision Knative created for a Knative Service.
pub fn latest_revision(ksvc: &DynamicObject) -> Option<&str> {
    ksvc.data["status"]["latestCreatedRevisionName"]
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The primary Revision a Knative Service's annotation names.
pub fn primary_revision(ksvc: &DynamicObject) -> Option<&str> {
    let annotations = ksvc.metadata.annotations.as_ref()?;
    annotations.get(PRIMARY_REVISION).map(String::as_str)
}

/// `spec.traffic` for a split: the latest ready Revision (`latestRevision: true`) gets the
/// canary's percent, `primary` the rest (Flagger's traffic block, in its order).
pub fn traffic(primary: &str, primary_percent: u32, canary_percent: u32) -> Value {
    json!([
        {"latestRevision": true, "percent": canary_percent},
        {"revisionName": primary, "percent": primary_percent},
    ])
}

/// One canary's Knative Service target.
pub struct KnativeWorkload<'a> {
    /// The canary's plan (names).
    pub plan: &'a Plan,
    /// Namespace.
    pub namespace: &'a str,
}

impl KnativeWorkload<'_> {
    fn what(&self) -> String {
        format!("service.serving.knative.dev/{}", self.plan.names.target)
    }

    /// The target, which must exist.
    async fn target(&self, read: &dyn Read) -> Result<DynamicObject, Error> {
        let name = &self.plan.names.target;
        read.get(&service_resource(), name).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "{} in namespace {} (spec.targetRef) does not exist",
                self.what(),
                self.namespace
            ))
        })
    }

    /// The target's latest Revision; none yet is an infrastructure error (Knative has not
    /// reconciled it).
    fn latest<'k>(&self, ksvc: &'k DynamicObject) -> Result<&'k str, Error> {
        latest_revision(ksvc).ok_or_else(|| {
            Error::Infra(format!(
                "{} has no revision yet (status.latestCreatedRevisionName is empty); is Knative Serving running?",
                self.what()
            ))
        })
    }

    /// The target with its annotation naming `revision` (and, when `pin`, all traffic on it).
    fn naming(&self, revision: &str, pin: bool, when: &'static str) -> Desired<'static> {
        let revision = revision.to_string();
        let name = self.plan.names.target.clone();
        Desired::dynamic(service_resource(), &name, when, move |current| {
            let mut next = current?.clone();
            let annotations = next
                .metadata
                .annotations
                .get_or_insert_with(Default::default);
            annotations.insert(PRIMARY_REVISION.into(), revision.clone());
            if pin {
                next.data["spec"]["traffic"] = traffic(&revision, 100, 0);
            }
            Some(next)
        })
    }

    /// A Revision's readiness from its `Ready` condition.
    async fn revision_health(&self, client: &kube::Client, name: &str) -> Result<Health, Error> {
        let read = ClusterRead::new(client, self.namespace);
        let Some(rev) = read.get(&revision_resource(), name).await? else {
            return Ok(Health::Waiting(format!(
                "revision {name} does not exist yet"
            )));
        };
        let conditions = rev.data["status"]["conditions"].as_array().cloned();
        let ready = conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c["type"] == "Ready");
        Ok(match ready.as_ref().map(|c| &c["status"]) {
            Some(s) if s == "True" => Health::Ready,
            Some(s) if s == "False" => {
                let why = ready
                    .as_ref()
                    .and_then(|c| c["message"].as_str())
                    .unwrap_or("");
                Health::Stuck(format!("revision {name} is not ready: {why}"))
            }
            _ => Health::Waiting(format!("revision {name} is not ready yet")),
        })
    }
}

#[async_trait::async_trait]
impl Workload for KnativeWorkload<'_> {
    fn kind(&self) -> (&'static str, &'static str) {
        (API_VERSION, "Service")
    }

    /// On first takeover, names the latest Revision the primary and pins all traffic on it.
    async fn initialization(
        &self,
        read: &dyn Read,
        first: bool,
    ) -> Result<Initialization<'_>, Error> {
        let ksvc = self.target(read).await?;
        let latest = self.latest(&ksvc)?.to_string();
        // Flagger's router names one when it is missing even after the takeover.
        let steps = match first || primary_revision(&ksvc).is_none() {
            true => vec![InitStep::Apply(self.naming(&latest, first, "init"))],
            false => Vec::new(),
        };
        Ok(Initialization {
            steps,
            revision: latest,
            tracked_configs: Default::default(),
            uid: ksvc.metadata.uid.clone(),
        })
    }

    /// Names the latest Revision the primary.
    async fn promotion(
        &self,
        read: &dyn Read,
        _id: Option<&str>,
    ) -> Result<Vec<Desired<'_>>, Error> {
        let ksvc = self.target(read).await?;
        let latest = self.latest(&ksvc)?;
        Ok(vec![self.naming(
            latest,
            false,
            "promotion, if the analysis passes",
        )])
    }

    async fn observe(&self, client: &kube::Client) -> Result<Observation, Error> {
        let ksvc = self
            .target(&ClusterRead::new(client, self.namespace))
            .await?;
        let latest = self.latest(&ksvc)?.to_string();
        let canary = self.revision_health(client, &latest).await?;
        let primary = match primary_revision(&ksvc) {
            Some(p) => self.revision_health(client, p).await?,
            None => Health::Waiting(format!("{} names no primary revision yet", self.what())),
        };
        Ok(Observation {
            revision: latest,
            tracked_configs: Default::default(),
            canary,
            primary,
        })
    }

    async fn wait_primary_ready(
        &self,
        client: &kube::Client,
        timeout: Duration,
    ) -> Result<(), Error> {
        super::wait_ready(timeout, || async {
            let ksvc = self
                .target(&ClusterRead::new(client, self.namespace))
                .await?;
            match primary_revision(&ksvc) {
                Some(p) => self.revision_health(client, p).await,
                None => Ok(Health::Waiting("no primary revision named yet".into())),
            }
        })
        .await
    }

    /// Knative scales Revisions itself.
    async fn scale_to_zero(&self, _client: &kube::Client) -> Result<bool, Error> {
        Ok(false)
    }

    async fn scale_from_zero(&self, _client: &kube::Client) -> Result<(), Error> {
        Ok(())
    }

    /// A Revision's status has no progress deadline canary-gate reads: the executor counts
    /// `progressDeadlineSeconds`, as Flagger does for Knative.
    fn owns_deadline(&self) -> bool {
        false
    }
}
