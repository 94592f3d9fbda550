//! The NGINX router (reference §4): the `<ingress>-canary` copy of the user's Ingress, pointed at
//! the canary Service, created at weight 0. Weight changes belong to the rollout.

use crate::error::Error;
use crate::k8s::OWNER_ANNOTATION;
use crate::k8s::write::{Outcome, ensure, read_opt};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;

/// The default annotation prefix of ingress-nginx.
pub const DEFAULT_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// The canary Ingress for `original`: backends on `apex` now point at `<apex>-canary`; annotations
/// without any `<prefix>/canary*` or kubectl's last-applied, plus `canary: "true"` and
/// `canary-weight: "0"`. Errors when no backend uses the apex Service.
pub fn render_canary(
    original: &Ingress,
    apex: &str,
    prefix: &str,
    owner: &str,
) -> Result<Ingress, String> {
    let name = original.metadata.name.clone().unwrap_or_default();
    let mut spec = original.spec.clone().unwrap_or_default();
    let mut matched = false;
    for rule in spec.rules.iter_mut().flatten() {
        for path in rule.http.iter_mut().flat_map(|h| h.paths.iter_mut()) {
            if let Some(svc) = path.backend.service.as_mut()
                && svc.name == apex
            {
                svc.name = format!("{apex}-canary");
                matched = true;
            }
        }
    }
    if !matched {
        return Err(format!("backend {apex} not found in ingress {name}"));
    }
    let canary_key = format!("{prefix}/canary");
    let mut annotations: std::collections::BTreeMap<String, String> = original
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| {
            !k.contains(&canary_key) && k != "kubectl.kubernetes.io/last-applied-configuration"
        })
        .collect();
    annotations.insert(canary_key.clone(), "true".into());
    annotations.insert(format!("{canary_key}-weight"), "0".into());
    annotations.insert(OWNER_ANNOTATION.to_string(), owner.to_string());
    Ok(Ingress {
        metadata: ObjectMeta {
            name: Some(format!("{name}-canary")),
            namespace: original.metadata.namespace.clone(),
            labels: original.metadata.labels.clone(),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// Creates the canary Ingress, or updates its spec when the original's changed (annotations of an
/// existing canary Ingress are the router's, never reset here).
pub async fn reconcile(
    client: &kube::Client,
    namespace: &str,
    ingress: &str,
    apex: &str,
    prefix: &str,
    owner: &str,
) -> Result<Outcome, Error> {
    let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let what = format!("reading ingress/{ingress}");
    let original = read_opt(&api, ingress, &what).await?.ok_or_else(|| {
        Error::Invalid(format!(
            "ingress/{ingress} (spec.ingressRef) does not exist in namespace {namespace}"
        ))
    })?;
    let desired = render_canary(&original, apex, prefix, owner)
        .map_err(|why| Error::Invalid(format!("ingress/{ingress}: {why}")))?;
    let name = format!("{ingress}-canary");
    ensure(
        &api,
        &name,
        &format!("ingress/{name}"),
        |current| match current {
            None => Some(desired.clone()),
            Some(cur) if cur.spec == desired.spec => None,
            Some(cur) => {
                let mut next = cur.clone();
                next.spec = desired.spec.clone();
                Some(next)
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_canary_ingress_points_at_the_canary_service() {
        let original: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "namespace": "test", "labels": {"app": "podinfo"},
                         "annotations": {"kubernetes.io/ingress.class": "nginx",
                                         "nginx.ingress.kubernetes.io/canary-by-header": "x",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "app.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "podinfo", "port": {"number": 80}}}},
                {"path": "/other", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap();
        let c = render_canary(&original, "podinfo", DEFAULT_PREFIX, "test/podinfo").unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["metadata"]["name"], "podinfo-canary");
        assert_eq!(
            v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "podinfo-canary"
        );
        assert_eq!(
            v["spec"]["rules"][0]["http"]["paths"][1]["backend"]["service"]["name"],
            "other"
        );
        let a = &v["metadata"]["annotations"];
        assert_eq!(a["nginx.ingress.kubernetes.io/canary"], "true");
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "0");
        assert!(
            a.get("nginx.ingress.kubernetes.io/canary-by-header")
                .is_none()
        );
        assert!(
            a.get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
        assert_eq!(a["kubernetes.io/ingress.class"], "nginx");
        assert!(
            render_canary(&original, "nope", DEFAULT_PREFIX, "x")
                .unwrap_err()
                .contains("backend nope not found")
        );
    }
}
