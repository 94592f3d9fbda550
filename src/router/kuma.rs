//! The Kuma router (provider `kuma`, Flagger v1.44's `pkg/router/kuma.go`): the cluster-scoped
//! `kuma.io/v1alpha1` TrafficRoute named after the apex Service, in the mesh the Canary's
//! annotation `kuma.io/mesh` names (else `default`). From every service to the apex's tag
//! `<apex>_<ns>_svc_<port>`, it splits between the `-primary` and `-canary` tags by `weight`.
//! Being cluster-scoped it carries no owner reference; canary-gate's ownership annotation still
//! says which canary wrote it. The render is pure; `Kuma` reads and writes. Must not touch
//! workloads or Services.

use super::{TrafficRouter, owned};
use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::rollout::Routes;
use crate::spec::model::Metadata;
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::{Value, json};
use std::time::Duration;

/// The TrafficRoute `apiVersion`.
pub const API_VERSION: &str = "kuma.io/v1alpha1";
/// The Canary annotation naming the mesh.
pub const MESH_ANNOTATION: &str = "kuma.io/mesh";
/// Kuma's service tag.
pub const SERVICE_TAG: &str = "kuma.io/service";

fn resource() -> ApiResource {
    owned::resource(API_VERSION, "TrafficRoute")
}

/// The Kuma router of one canary.
pub struct Kuma<'a> {
    /// The canary's namespace (in the service tags).
    pub namespace: &'a str,
    /// The apex Service.
    pub apex: &'a str,
    /// `service.port`.
    pub port: u16,
    /// The mesh (`kuma.io/mesh` on the Canary, else `default`).
    pub mesh: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The apex metadata (`spec.service.apex`).
    pub extra: &'a Metadata,
}

impl Kuma<'_> {
    /// The Kuma service tag of a Service.
    pub fn tag(&self, service: &str) -> String {
        format!("{service}_{}_svc_{}", self.namespace, self.port)
    }

    /// The TrafficRoute spec for `split`.
    pub fn spec(&self, split: Routes) -> Value {
        let to = |service: String, weight: u32| json!({"weight": weight, "destination": {SERVICE_TAG: self.tag(&service)}});
        json!({
            "sources": [{"match": {SERVICE_TAG: "*"}}],
            "destinations": [{"match": {SERVICE_TAG: self.tag(self.apex)}}],
            "conf": {"split": [
                to(crate::rollout::primary_name(self.apex), split.primary),
                to(crate::rollout::canary_name(self.apex), split.canary),
            ]},
        })
    }

    /// The split a TrafficRoute holds (Flagger's `GetRoutes`: the primary's weight, the canary
    /// the rest).
    pub fn split_of(&self, spec: &Value) -> Option<Routes> {
        let primary = self.tag(&crate::rollout::primary_name(self.apex));
        let splits = spec["conf"]["split"].as_array()?;
        let s = splits
            .iter()
            .find(|s| s["destination"][SERVICE_TAG] == primary.as_str())?;
        let weight = s["weight"].as_u64()?.min(100) as u32;
        Some(Routes::primary_takes(weight))
    }

    fn what(&self) -> String {
        format!("trafficroute/{}", self.apex)
    }

    /// The TrafficRoute as it should be: cluster-scoped, in its mesh (kept once set).
    fn render(&self, current: Option<&DynamicObject>, split: Routes) -> DynamicObject {
        let res = resource();
        let spec = self.spec(split);
        let mut obj = owned::render(&res, self.apex, "", current, self.owner, self.extra, spec);
        obj.metadata.namespace = None;
        if !obj.data["mesh"].is_string() {
            obj.data["mesh"] = json!(self.mesh);
        }
        obj
    }
}

#[async_trait::async_trait]
impl TrafficRouter for Kuma<'_> {
    /// Refuses a TrafficRoute of that name another canary (or someone else) wrote; keeps the
    /// split a previous init left.
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        if let Some(found) = read.get_in(&resource(), "", self.apex).await?
            && !owned::owned_by(&found.metadata, self.owner)
        {
            return Err(Error::Invalid(format!(
                "{} (cluster-scoped) exists and is not managed by this canary (no {}: {} annotation); Kuma TrafficRoutes are named after the apex Service, so two canaries with the same Service name in different namespaces collide: rename one, or set spec.service.name",
                self.what(),
                crate::k8s::OWNER_ANNOTATION,
                self.owner
            )));
        }
        let step = Desired::dynamic(
            resource(),
            self.apex,
            "init; the rollout sets its split weights",
            move |current| {
                let held = current.and_then(|c| self.split_of(&c.data["spec"]));
                Some(self.render(current, held.unwrap_or(super::ALL_PRIMARY)))
            },
        )
        .cluster_scoped();
        Ok(vec![InitStep::Apply(step)])
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
        let what = self.what();
        let live = owned::read_live(&api, self.apex, &what).await?;
        self.split_of(&live.data["spec"]).ok_or_else(|| {
            Error::Infra(format!(
                "{what} has no split to the primary; run init again"
            ))
        })
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
        owned::set_spec(&api, self.apex, &self.what(), split, |_| self.spec(split))
            .await
            .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
