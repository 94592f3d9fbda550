//! The APISIX router (provider `apisix`, Flagger v1.44's `pkg/router/apisix.go`): the
//! `apisix.apache.org/v2` ApisixRoute `<routeRef>-<apex>-canary`, a copy of the user's
//! ApisixRoute (`spec.routeRef`) holding only its first `http` entry with a backend on the apex
//! Service. That entry gets priority 10000, so it wins over the original, and two backends:
//! `<apex>-primary` (the original backend renamed) and `<apex>-canary` (its port, resolve
//! granularity and subset), whose `weight`s carry the split. The user's ApisixRoute is never
//! changed. The render is pure; `Apisix` reads and writes the objects.

use super::{TrafficRouter, owned};
use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::rollout::Routes;
use crate::spec::model::Metadata;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Value, json};
use std::time::Duration;

/// The ApisixRoute `apiVersion`.
pub const API_VERSION: &str = "apisix.apache.org/v2";
/// The canary entry's priority (Flagger's `maxPriority`).
pub const PRIORITY: u32 = 10000;

/// The ApisixRoute resource.
pub fn resource() -> ApiResource {
    owned::resource(API_VERSION, "ApisixRoute")
}

/// The canary ApisixRoute's spec from the user's, holding `split`; an error (naming what is
/// wrong with the user's route) when no `http` entry has a backend on `apex`, or that entry has
/// more than one backend.
pub fn canary_spec(original: &Value, apex: &str, split: Routes) -> Result<Value, String> {
    let entries = original["http"].as_array().filter(|h| !h.is_empty());
    let entries = entries.ok_or("its spec.http is empty")?;
    let entry = entries
        .iter()
        .find(|e| backends(e).iter().any(|b| b["serviceName"] == apex))
        .ok_or_else(|| format!("no spec.http entry has a backend on Service {apex}"))?;
    let [backend] = backends(entry) else {
        let name = entry["name"].as_str().unwrap_or("");
        return Err(format!(
            "spec.http entry {name:?} has more than one backend; APISIX canaries need exactly one"
        ));
    };
    let mut primary = backend.clone();
    primary["serviceName"] = json!(crate::rollout::primary_name(apex));
    primary["weight"] = json!(split.primary);
    let mut canary = json!({
        "serviceName": crate::rollout::canary_name(apex),
        "servicePort": backend["servicePort"],
        "weight": split.canary,
    });
    for field in ["resolveGranularity", "subset"] {
        if let Some(v) = backend.get(field) {
            canary[field] = v.clone();
        }
    }
    let mut entry = entry.clone();
    entry["priority"] = json!(PRIORITY);
    entry["backends"] = json!([primary, canary]);
    let mut spec = original.clone();
    spec["http"] = json!([entry]);
    Ok(spec)
}

fn backends(entry: &Value) -> &[Value] {
    entry["backends"].as_array().map_or(&[], Vec::as_slice)
}

/// The split the canary ApisixRoute holds, from the entry with the primary backend (Flagger's
/// `GetRoutes`: the primary's weight, the canary the rest).
pub fn split_of(spec: &Value, apex: &str) -> Option<Routes> {
    let primary = crate::rollout::primary_name(apex);
    let entries = spec["http"].as_array()?;
    let backend = entries
        .iter()
        .flat_map(|e| backends(e).iter())
        .find(|b| b["serviceName"] == primary.as_str())?;
    let weight = backend["weight"].as_u64()?.min(100) as u32;
    Some(Routes::primary_takes(weight))
}

/// The spec with the two backends' weights set to `split`.
pub fn with_split(spec: &Value, apex: &str, split: Routes) -> Value {
    let (primary, canary) = (
        crate::rollout::primary_name(apex),
        crate::rollout::canary_name(apex),
    );
    let mut next = spec.clone();
    for entry in next["http"].as_array_mut().into_iter().flatten() {
        for b in entry["backends"].as_array_mut().into_iter().flatten() {
            if b["serviceName"] == primary.as_str() {
                b["weight"] = json!(split.primary);
            } else if b["serviceName"] == canary.as_str() {
                b["weight"] = json!(split.canary);
            }
        }
    }
    next
}

/// The APISIX router of one canary.
pub struct Apisix<'a> {
    /// The canary's namespace.
    pub namespace: &'a str,
    /// The user's ApisixRoute (`spec.routeRef.name`).
    pub route: &'a str,
    /// The apex Service.
    pub apex: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
}

impl Apisix<'_> {
    fn canary_route(&self) -> String {
        format!("{}-{}-canary", self.route, self.apex)
    }

    /// The user's ApisixRoute, which must exist.
    async fn original(&self, read: &dyn Read) -> Result<DynamicObject, Error> {
        read.get(&resource(), self.route).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "apisixroute/{} in namespace {} (spec.routeRef) does not exist",
                self.route, self.namespace
            ))
        })
    }
}

/// The user's route's labels and annotations, which the copy carries (as Flagger copies them).
fn metadata_of(original: &DynamicObject) -> Metadata {
    Metadata {
        labels: original.metadata.labels.clone().unwrap_or_default(),
        annotations: original.metadata.annotations.clone().unwrap_or_default(),
    }
}

#[async_trait::async_trait]
impl TrafficRouter for Apisix<'_> {
    /// Refuses a canary ApisixRoute canary-gate does not own, and a user's route it cannot copy;
    /// keeps the split a previous init left.
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let original = self.original(read).await?;
        let name = self.canary_route();
        owned::refuse_foreign(read, &resource(), &name, self.namespace, self.owner).await?;
        let source = original.data["spec"].clone();
        canary_spec(&source, self.apex, super::ALL_PRIMARY)
            .map_err(|why| Error::Invalid(format!("apisixroute/{}: {why}", self.route)))?;
        let extra = metadata_of(&original);
        let step = Desired::dynamic(
            resource(),
            &name.clone(),
            "init; the rollout sets its backend weights",
            move |current| {
                let held = current.and_then(|c| split_of(&c.data["spec"], self.apex));
                let split = held.unwrap_or(super::ALL_PRIMARY);
                let spec = canary_spec(&source, self.apex, split).ok()?;
                let res = resource();
                let ns = self.namespace;
                Some(owned::render(
                    &res, &name, ns, current, self.owner, &extra, spec,
                ))
            },
        );
        Ok(vec![InitStep::Apply(step)])
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let api = owned::api(client, self.namespace, &resource());
        let name = self.canary_route();
        let what = format!("apisixroute/{name}");
        let live = owned::read_live(&api, &name, &what).await?;
        split_of(&live.data["spec"], self.apex).ok_or_else(|| {
            Error::Infra(format!(
                "{what} has no weighted backend on {}-primary; run init again",
                self.apex
            ))
        })
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let api = owned::api(client, self.namespace, &resource());
        let name = self.canary_route();
        let object = format!("apisixroute/{name}");
        owned::set_spec(&api, &name, &object, split, |cur| {
            with_split(cur, self.apex, split)
        })
        .await
        .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
