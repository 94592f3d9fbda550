//! The Knative router (provider `knative`, Flagger v1.44's `pkg/router/knative.go`): the target
//! Knative Service's own `spec.traffic`, `[{latestRevision: true, percent: canary},
//! {revisionName: <primary revision>, percent: primary}]`, the primary being the Revision its
//! `flagger.app/primary-revision` annotation names. The split is read back from
//! `status.traffic` once Knative has applied it, else from `spec.traffic`. Owns no object of
//! its own; must not touch the annotation (the workload names the primary).

use super::TrafficRouter;
use crate::error::Error;
use crate::k8s::desired::{InitStep, Read};
use crate::k8s::write::{ensure, read_opt};
use crate::rollout::Routes;
use crate::workload::knative::{primary_revision, service_resource, traffic};
use kube::api::{Api, DynamicObject};
use serde_json::Value;
use std::time::Duration;

/// The split a traffic block holds: the `latestRevision` entry is the canary, the entry naming
/// `primary` the primary; `None` without both.
pub fn split_of(block: &Value, primary: &str) -> Option<Routes> {
    let entries = block.as_array()?;
    let percent = |e: &Value| e["percent"].as_u64().map(|p| p.min(100) as u32);
    let canary = entries.iter().find(|e| e["latestRevision"] == true)?;
    let primary = entries.iter().find(|e| e["revisionName"] == primary)?;
    Some(Routes {
        primary: percent(primary)?,
        canary: percent(canary)?,
        mirrored: false,
    })
}

/// The Knative router of one canary: its target's traffic block.
pub struct Knative<'a> {
    /// The canary's namespace.
    pub namespace: &'a str,
    /// The target Knative Service.
    pub name: &'a str,
}

impl Knative<'_> {
    fn what(&self) -> String {
        format!("service.serving.knative.dev/{}", self.name)
    }

    fn api(&self, client: &kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), self.namespace, &service_resource())
    }

    fn primary<'k>(&self, ksvc: &'k DynamicObject) -> Result<&'k str, Error> {
        primary_revision(ksvc).ok_or_else(|| {
            Error::Infra(format!(
                "{} has no {} annotation; run init again",
                self.what(),
                crate::workload::knative::PRIMARY_REVISION
            ))
        })
    }
}

#[async_trait::async_trait]
impl TrafficRouter for Knative<'_> {
    /// Nothing of its own: the workload's initialization pins the traffic.
    async fn initialization(&self, _read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        Ok(Vec::new())
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let what = self.what();
        let ksvc = read_opt(&self.api(client), self.name, &format!("reading {what}"))
            .await?
            .ok_or_else(|| Error::Infra(format!("{what} is missing")))?;
        let primary = self.primary(&ksvc)?;
        let status = split_of(&ksvc.data["status"]["traffic"], primary);
        status
            .or_else(|| split_of(&ksvc.data["spec"]["traffic"], primary))
            .ok_or_else(|| {
                Error::Infra(format!(
                    "{what} routes nothing to the latest revision and {primary}; run init again"
                ))
            })
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let what = super::owned::weight_change(&self.what(), split);
        let missing = std::sync::atomic::AtomicBool::new(false);
        ensure(&self.api(client), self.name, &what, |current| {
            let mut next = current?.clone();
            let Some(primary) = primary_revision(&next).map(str::to_string) else {
                missing.store(true, std::sync::atomic::Ordering::Relaxed);
                return None;
            };
            next.data["spec"]["traffic"] = traffic(&primary, split.primary, split.canary);
            Some(next)
        })
        .await?;
        if missing.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Infra(format!(
                "{} has no primary revision annotation; run init again",
                self.what()
            )));
        }
        Ok(())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
