//! Service targets (reference §3.8): `<svc>-canary` tracks the target Service's spec, and
//! `<svc>-primary` is created once. No scaling, no config tracking, always ready.

use super::hash_json;
use crate::error::Error;
use crate::k8s::write::{Outcome, ensure, read_opt};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;

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

async fn read_target(api: &Api<Service>, namespace: &str, name: &str) -> Result<Service, Error> {
    read_opt(api, name, &format!("reading service/{name}"))
        .await?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "service/{name} (spec.targetRef) does not exist in namespace {namespace}"
            ))
        })
}

/// Reads the target, creates or updates `-canary`, creates `-primary` once. Returns the target.
pub async fn initialize(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    owner: &str,
) -> Result<(Service, bool), Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let target = read_target(&api, namespace, name).await?;
    let canary_name = format!("{name}-canary");
    let canary = render_copy(&target, &canary_name, owner);
    ensure(
        &api,
        &canary_name,
        &format!("service/{canary_name}"),
        |current| match current {
            None => Some(canary.clone()),
            Some(cur) => {
                let mut next = cur.clone();
                let mut spec = canary.spec.clone().unwrap_or_default();
                let live = cur.spec.clone().unwrap_or_default();
                spec.cluster_ip = live.cluster_ip;
                spec.cluster_ips = live.cluster_ips;
                next.spec = Some(spec);
                (next != *cur).then_some(next)
            }
        },
    )
    .await?;
    let primary_name = format!("{name}-primary");
    let primary = render_copy(&target, &primary_name, owner);
    let created = ensure(
        &api,
        &primary_name,
        &format!("service/{primary_name}"),
        |current| current.is_none().then(|| primary.clone()),
    )
    .await?;
    Ok((target, created == Outcome::Created))
}

/// Promotion of a Service target: `-primary` gets the target's spec and metadata (its own
/// allocated addresses kept).
pub async fn promote(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    owner: &str,
) -> Result<(), Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let target = read_target(&api, namespace, name).await?;
    let primary_name = format!("{name}-primary");
    let want = render_copy(&target, &primary_name, owner);
    ensure(
        &api,
        &primary_name,
        &format!("promoting service/{primary_name}"),
        |current| {
            let cur = current?;
            let mut next = cur.clone();
            let live = cur.spec.clone().unwrap_or_default();
            let mut spec = want.spec.clone().unwrap_or_default();
            spec.cluster_ip = live.cluster_ip;
            spec.cluster_ips = live.cluster_ips;
            next.spec = Some(spec);
            next.metadata.labels = want.metadata.labels.clone();
            next.metadata.annotations = want.metadata.annotations.clone();
            Some(next)
        },
    )
    .await?;
    Ok(())
}
