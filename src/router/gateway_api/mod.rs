//! The Gateway API router (reference §6.1) for `gatewayapi:v1` and `gatewayapi:v1beta1`: the
//! HTTPRoute named after the apex Service, created with all traffic on the primary; its weights
//! are the rollout's; it is read back only once every parent accepted its current generation.
//! The renders are pure (`render.rs`); this file reads and writes the object. Must not touch
//! workloads or Services.

pub mod render;

use crate::error::Error;
use crate::k8s::write::{Outcome, ensure, read_opt};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::rollout::Routes;
use crate::spec::model::Provider;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use render::RouteInput;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The HTTPRoute's `apiVersion` for a provider.
pub fn api_version(p: Provider) -> &'static str {
    match p {
        Provider::GatewayApiV1beta1 => "gateway.networking.k8s.io/v1beta1",
        _ => "gateway.networking.k8s.io/v1",
    }
}

/// What the route of canary `c` is rendered from, for a Gateway API provider with a service.
pub fn input<'a>(
    c: &'a crate::spec::model::Canary,
    plan: &'a crate::rollout::Plan,
    namespace: &'a str,
) -> Option<RouteInput<'a>> {
    let name = plan.names.route.as_deref()?;
    let service = c.service.as_ref()?;
    let ab = match &plan.strategy {
        crate::rollout::Strategy::AbTesting { matches, .. } => matches.as_slice(),
        _ => &[],
    };
    Some(RouteInput {
        api_version: api_version(plan.provider),
        name,
        namespace,
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
        port: service.port,
        parents: &service.gateway_refs,
        hosts: &service.hosts,
        matches: &service.matches,
        ab,
        timeout: service.timeout,
        backend_timeout: service.backend_timeout,
        affinity: c.analysis.session_affinity.as_ref(),
        mirror_percent: c.analysis.mirror_weight,
    })
}

fn api(client: &kube::Client, namespace: &str, api_version: &str) -> Api<DynamicObject> {
    let version = api_version.rsplit('/').next().unwrap_or("v1");
    let gvk = GroupVersionKind::gvk(render::GROUP, version, "HTTPRoute");
    Api::namespaced_with(client.clone(), namespace, &ApiResource::from_gvk(&gvk))
}

fn as_value(route: &DynamicObject) -> Value {
    serde_json::to_value(route).unwrap_or(Value::Null)
}

fn owned_by(route: &DynamicObject, owner: &str) -> bool {
    route
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .is_some_and(|o| o == owner)
}

/// The route as it should be: `current`'s metadata (annotations other controllers set are kept)
/// with ours added, and `spec` rendered for the split it holds now (so reconciling never moves
/// traffic), or for all traffic on the primary when it is new.
pub fn desired(
    input: &RouteInput,
    current: Option<&DynamicObject>,
    owner: &str,
    extra: &crate::spec::model::Metadata,
) -> DynamicObject {
    let (split, cookie) = current
        .and_then(|c| render::split_of(&c.data["spec"], input.canary))
        .unwrap_or((
            Routes {
                primary: 100,
                canary: 0,
                mirrored: false,
            },
            None,
        ));
    let mut route = current.cloned().unwrap_or_else(|| DynamicObject {
        types: Some(kube::api::TypeMeta {
            api_version: input.api_version.to_string(),
            kind: "HTTPRoute".into(),
        }),
        metadata: kube::api::ObjectMeta {
            name: Some(input.name.to_string()),
            namespace: Some(input.namespace.to_string()),
            ..Default::default()
        },
        data: serde_json::json!({}),
    });
    let labels = route.metadata.labels.get_or_insert_with(Default::default);
    labels.extend(extra.labels.clone());
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    let annotations = route
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.extend(extra.annotations.clone());
    annotations.insert(OWNER_ANNOTATION.into(), owner.into());
    route.data["spec"] = render::spec(input, split, cookie.as_deref());
    route
}

/// The route as the cluster has it now, if any.
pub async fn read(
    client: &kube::Client,
    input: &RouteInput<'_>,
) -> Result<Option<DynamicObject>, Error> {
    let api = api(client, input.namespace, input.api_version);
    read_opt(
        &api,
        input.name,
        &format!("reading httproute/{}", input.name),
    )
    .await
}

/// Refuses a route of that name that canary-gate does not own (it is never overwritten); run
/// before anything is written.
pub async fn check_owner(
    client: &kube::Client,
    input: &RouteInput<'_>,
    owner: &str,
) -> Result<(), Error> {
    match read(client, input).await? {
        Some(existing) if !owned_by(&existing, owner) => Err(Error::Invalid(format!(
            "httproute/{} in namespace {} exists and is not managed by canary-gate (no {OWNER_ANNOTATION}: {owner} annotation); canary-gate owns the route named after the apex Service: delete or rename it, or set spec.service.name",
            input.name, input.namespace
        ))),
        _ => Ok(()),
    }
}

/// Creates the route, or brings its spec up to date without moving traffic.
pub async fn reconcile(
    client: &kube::Client,
    input: &RouteInput<'_>,
    owner: &str,
    extra: &crate::spec::model::Metadata,
) -> Result<Outcome, Error> {
    let api = api(client, input.namespace, input.api_version);
    let what = format!("httproute/{}", input.name);
    ensure(&api, input.name, &what, |current| {
        let want = desired(input, current, owner, extra);
        (current != Some(&want)).then_some(want)
    })
    .await
}

/// Reads the split, waiting up to `wait` for every parent to accept the route's current
/// generation; past that, an error naming the Gateway and its condition.
pub async fn read_routes(
    client: &kube::Client,
    input: &RouteInput<'_>,
    wait: Duration,
) -> Result<Routes, Error> {
    let api = api(client, input.namespace, input.api_version);
    let what = format!("httproute/{}", input.name);
    let start = Instant::now();
    let mut said = false;
    loop {
        let route = read_opt(&api, input.name, &format!("reading {what}"))
            .await?
            .ok_or_else(|| Error::Infra(format!("{what} is missing; run init again")))?;
        let value = as_value(&route);
        match render::acceptance(&value) {
            Ok(()) => {
                return render::split_of(&value["spec"], input.canary)
                    .map(|(split, _)| split)
                    .ok_or_else(|| {
                        Error::Infra(format!(
                            "{what} has no rule with the primary and canary backends; run init again"
                        ))
                    });
            }
            Err(why) if start.elapsed() >= wait => {
                return Err(Error::Infra(format!(
                    "{what} in namespace {} was not accepted within {}s: {why}; traffic was not shifted",
                    input.namespace,
                    wait.as_secs()
                )));
            }
            Err(why) => {
                if !said {
                    println!(
                        "{}/{}: waiting for the route to be accepted: {why}",
                        input.namespace, input.name
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Writes a split (and the sticky `cookie` while the canary takes part of the traffic).
pub async fn set_routes(
    client: &kube::Client,
    input: &RouteInput<'_>,
    split: Routes,
    cookie: Option<&str>,
) -> Result<Outcome, Error> {
    let api = api(client, input.namespace, input.api_version);
    let what = format!(
        "httproute/{} weight {} (primary {}{})",
        input.name,
        split.canary,
        split.primary,
        if split.mirrored { ", mirrored" } else { "" }
    );
    let missing = std::cell::Cell::new(false);
    let outcome = ensure(&api, input.name, &what, |current| {
        let Some(cur) = current else {
            missing.set(true);
            return None;
        };
        let mut next = cur.clone();
        next.data["spec"] = render::spec(input, split, cookie);
        Some(next)
    })
    .await?;
    if missing.get() {
        return Err(Error::Infra(format!(
            "httproute/{} is missing; run init again",
            input.name
        )));
    }
    Ok(outcome)
}
