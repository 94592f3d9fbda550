//! The custom route objects a router owns (HTTPRoute, VirtualService, DestinationRule,
//! TrafficSplit): how one is refused when someone else owns it, how it is rendered around its
//! spec (metadata other controllers set is kept, ours added), and how its spec is rewritten for
//! a new split. Must not decide what a spec holds (each router renders its own).

use crate::error::Error;
use crate::k8s::desired::Read;
use crate::k8s::write::{Outcome, ensure};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::spec::model::Metadata;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

/// A custom object's resource from its `apiVersion` and kind.
pub fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// The namespaced API of a custom resource.
pub fn api(client: &kube::Client, namespace: &str, res: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, res)
}

/// Whether an object carries canary-gate's ownership annotation for `owner`.
pub fn owned_by(meta: &kube::api::ObjectMeta, owner: &str) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .is_some_and(|o| o == owner)
}

/// Fails (as invalid input, before anything is written) when `name` exists and this canary does
/// not own it: canary-gate never overwrites a route object someone else wrote.
pub async fn refuse_foreign(
    read: &dyn Read,
    res: &ApiResource,
    name: &str,
    namespace: &str,
    owner: &str,
) -> Result<(), Error> {
    match read.get(res, name).await? {
        Some(existing) if !owned_by(&existing.metadata, owner) => Err(Error::Invalid(format!(
            "{}/{name} in namespace {namespace} exists and is not managed by canary-gate (no {OWNER_ANNOTATION}: {owner} annotation); canary-gate owns the {} named after the apex Service: delete or rename it, or set spec.service.name",
            res.kind.to_lowercase(),
            res.kind
        ))),
        _ => Ok(()),
    }
}

/// The object as it should be: `current`'s metadata (annotations other controllers set are
/// kept) with `extra` and ours added, holding `spec`.
pub fn render(
    res: &ApiResource,
    name: &str,
    namespace: &str,
    current: Option<&DynamicObject>,
    owner: &str,
    extra: &Metadata,
    spec: Value,
) -> DynamicObject {
    let mut obj = current.cloned().unwrap_or_else(|| DynamicObject {
        types: Some(kube::api::TypeMeta {
            api_version: res.api_version.clone(),
            kind: res.kind.clone(),
        }),
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        data: serde_json::json!({}),
    });
    let labels = obj.metadata.labels.get_or_insert_with(Default::default);
    labels.extend(extra.labels.clone());
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    let annotations = obj
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.extend(extra.annotations.clone());
    annotations.insert(OWNER_ANNOTATION.into(), owner.into());
    obj.data["spec"] = spec;
    obj
}

/// How a weight change is logged: `kind/name weight 20 (primary 80)`, `, mirrored` when it is.
pub fn weight_change(object: &str, split: crate::rollout::Routes) -> String {
    let mirrored = if split.mirrored { ", mirrored" } else { "" };
    format!(
        "{object} weight {} (primary {}{mirrored})",
        split.canary, split.primary
    )
}

/// The live route object `name` (`object`, as `kind/name`); a missing one is an infrastructure
/// error telling the user to run init again.
pub async fn read_live(
    api: &Api<DynamicObject>,
    name: &str,
    object: &str,
) -> Result<DynamicObject, Error> {
    crate::k8s::write::read_opt(api, name, &format!("reading {object}"))
        .await?
        .ok_or_else(|| Error::Infra(format!("{object} is missing; run init again")))
}

/// Rewrites the spec of the live object `name` with `spec_for(current spec)` to hold `split`; a
/// missing object (`object`, as `kind/name`) is an infrastructure error telling the user to run
/// init again.
pub async fn set_spec(
    api: &Api<DynamicObject>,
    name: &str,
    object: &str,
    split: crate::rollout::Routes,
    spec_for: impl Fn(&Value) -> Value,
) -> Result<Outcome, Error> {
    let missing = AtomicBool::new(false);
    let what = weight_change(object, split);
    let outcome = ensure(api, name, &what, |current| {
        let Some(cur) = current else {
            missing.store(true, Ordering::Relaxed);
            return None;
        };
        let mut next = cur.clone();
        next.data["spec"] = spec_for(&cur.data["spec"]);
        Some(next)
    })
    .await?;
    if missing.load(Ordering::Relaxed) {
        return Err(Error::Infra(format!("{object} is missing; run init again")));
    }
    Ok(outcome)
}

/// A route object whose whole spec is rendered from the split: what [`OneObject`] needs to know
/// of it (SMI's TrafficSplit, Contour's HTTPProxy, Traefik's TraefikService).
pub trait SplitObject: Send + Sync {
    /// Its `apiVersion` and kind.
    fn resource(&self) -> ApiResource;
    /// Its name (the apex Service's).
    fn name(&self) -> &str;
    /// The canary's namespace.
    fn namespace(&self) -> &str;
    /// The spec that holds `split`.
    fn spec(&self, split: crate::rollout::Routes) -> Value;
    /// The split a spec holds; `None` when it holds none this canary wrote.
    fn split_of(&self, spec: &Value) -> Option<crate::rollout::Routes>;
    /// Why the live object holds no split (after `kind/name`), e.g. "does not list X".
    fn no_split(&self) -> String;
}

/// The router of a provider that owns one [`SplitObject`]: refuses a foreign one at init, keeps
/// the split a previous init left, reads and rewrites the spec.
pub struct OneObject<'a, O> {
    /// The object.
    pub object: O,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The apex metadata (`spec.service.apex`).
    pub extra: &'a Metadata,
}

impl<O: SplitObject> OneObject<'_, O> {
    fn what(&self) -> String {
        let kind = self.object.resource().kind.to_lowercase();
        format!("{kind}/{}", self.object.name())
    }
}

#[async_trait::async_trait]
impl<O: SplitObject> super::TrafficRouter for OneObject<'_, O> {
    async fn initialization(
        &self,
        read: &dyn Read,
    ) -> Result<Vec<crate::k8s::desired::InitStep<'_>>, Error> {
        let (o, owner) = (&self.object, self.owner);
        refuse_foreign(read, &o.resource(), o.name(), o.namespace(), owner).await?;
        let step = crate::k8s::desired::Desired::dynamic(
            o.resource(),
            o.name(),
            "init; the rollout sets its weights",
            move |current| {
                let held = current.and_then(|c| o.split_of(&c.data["spec"]));
                let spec = o.spec(held.unwrap_or(super::ALL_PRIMARY));
                let (res, name, ns) = (o.resource(), o.name(), o.namespace());
                Some(render(&res, name, ns, current, owner, self.extra, spec))
            },
        );
        Ok(vec![crate::k8s::desired::InitStep::Apply(step)])
    }

    async fn routes(
        &self,
        client: &kube::Client,
        _wait: std::time::Duration,
    ) -> Result<crate::rollout::Routes, Error> {
        let o = &self.object;
        let api = api(client, o.namespace(), &o.resource());
        let what = self.what();
        let live = read_live(&api, o.name(), &what).await?;
        o.split_of(&live.data["spec"])
            .ok_or_else(|| Error::Infra(format!("{what} {}; run init again", o.no_split())))
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: crate::rollout::Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let o = &self.object;
        let api = api(client, o.namespace(), &o.resource());
        set_spec(&api, o.name(), &self.what(), split, |_| o.spec(split))
            .await
            .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
