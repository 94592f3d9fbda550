//! The NGINX router (reference §4): the `<ingress>-canary` copy of the user's Ingress, pointed at
//! the canary Service, created at weight 0. Weight changes belong to the rollout.

use super::TrafficRouter;
use crate::error::Error;
use crate::k8s::OWNER_ANNOTATION;
use crate::k8s::desired::{Desired, InitStep, Read, get};
use crate::k8s::write::{ensure, read_opt};
use crate::rollout::{Routes, canary_name};
use crate::spec::model::HttpMatch;
use k8s_openapi::api::networking::v1::{Ingress, IngressSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use std::collections::BTreeMap;
use std::time::Duration;

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
                svc.name = canary_name(apex);
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
    Ok(copy_of(original, spec, annotations))
}

/// The `<name>-canary` copy of `original` with `spec` and `annotations`, its labels kept.
pub(super) fn copy_of(
    original: &Ingress,
    spec: IngressSpec,
    annotations: BTreeMap<String, String>,
) -> Ingress {
    let name = original.metadata.name.clone().unwrap_or_default();
    Ingress {
        metadata: ObjectMeta {
            name: Some(canary_name(&name)),
            namespace: original.metadata.namespace.clone(),
            labels: original.metadata.labels.clone(),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The Ingresses of an Ingress-based router (NGINX, Skipper): the user's, its `-canary` copy,
/// where they are, and for whom.
pub struct IngressPair<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// The user's Ingress (`spec.ingressRef`).
    pub ingress: &'a str,
    /// `<ingress>-canary`.
    pub canary_ingress: &'a str,
    /// The apex Service the user's Ingress routes to.
    pub apex: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
}

impl IngressPair<'_> {
    /// The user's Ingress, which must exist.
    pub(super) async fn original(&self, read: &dyn Read) -> Result<Ingress, Error> {
        let (ingress, namespace) = (self.ingress, self.namespace);
        get::<Ingress>(read, ingress).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "ingress/{ingress} (spec.ingressRef) does not exist in namespace {namespace}"
            ))
        })
    }

    /// The copy's annotations (which carry the weights), which must exist.
    pub(super) async fn copy_annotations(
        &self,
        client: &kube::Client,
    ) -> Result<BTreeMap<String, String>, Error> {
        let api: Api<Ingress> = Api::namespaced(client.clone(), self.namespace);
        let name = self.canary_ingress;
        let ing = read_opt(&api, name, &format!("reading ingress/{name}"))
            .await?
            .ok_or_else(|| Error::Infra(format!("ingress/{name} is missing; run init again")))?;
        Ok(ing.metadata.annotations.unwrap_or_default())
    }
}

/// The NGINX router of one canary: its `<ingress>-canary` Ingress carries the weights.
pub struct Nginx<'a> {
    /// The user's Ingress and its copy.
    pub pair: IngressPair<'a>,
    /// The annotation prefix (`--ingress-annotations-prefix`).
    pub prefix: &'a str,
    /// A/B matches (empty for weights).
    pub matches: &'a [HttpMatch],
}

/// A canary Ingress as an initialization step: created, or its spec updated when the original's
/// changed (annotations of an existing canary Ingress are the router's, never reset). NGINX's and
/// Skipper's routers both make one; `when` says what carries the weights.
pub(super) fn canary_ingress_step(want: Ingress, when: &'static str) -> InitStep<'static> {
    let name = want.metadata.name.clone().unwrap_or_default();
    InitStep::Apply(Desired::typed(
        &name,
        when,
        move |current: Option<&Ingress>| match current {
            None => Some(want.clone()),
            Some(cur) => {
                let mut next = cur.clone();
                next.spec = want.spec.clone();
                Some(next)
            }
        },
    ))
}

#[async_trait::async_trait]
impl TrafficRouter for Nginx<'_> {
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let p = &self.pair;
        let original = p.original(read).await?;
        let want = render_canary(&original, p.apex, self.prefix, p.owner)
            .map_err(|why| Error::Invalid(format!("ingress/{}: {why}", p.ingress)))?;
        Ok(vec![canary_ingress_step(
            want,
            "init; its canary annotations carry the weights",
        )])
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        read_routes(client, self).await
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        // The A/B rules route everything matching to the canary only while it takes it all.
        let matches = if split.canary == 100 && split.primary == 0 {
            self.matches
        } else {
            &[]
        };
        set_routes(client, self, split.canary, matches).await
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}

/// The canary Ingress annotations for a traffic split (§4.2): weight 0 strips every
/// `<prefix>/canary*` (header and cookie rules too) and leaves `canary: "true"`,
/// `canary-weight: "0"`; A/B sets the header/cookie rules from `matches`; otherwise the weight.
pub fn route_annotations(
    current: &BTreeMap<String, String>,
    canary_weight: u32,
    matches: &[HttpMatch],
    prefix: &str,
) -> BTreeMap<String, String> {
    let key = |suffix: &str| format!("{prefix}/{suffix}");
    let canary = key("canary");
    if canary_weight == 0 {
        let mut out: BTreeMap<String, String> = current
            .iter()
            .filter(|(k, _)| !k.contains(&canary))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert(canary, "true".into());
        out.insert(key("canary-weight"), "0".into());
        return out;
    }
    let mut out = current.clone();
    out.insert(canary, "true".into());
    if matches.is_empty() {
        out.insert(key("canary-weight"), canary_weight.to_string());
        return out;
    }
    for m in matches {
        for (name, cond) in m.headers.iter().flatten() {
            if name.eq_ignore_ascii_case("cookie") {
                if let Some(cookie) = &cond.exact {
                    out.insert(key("canary-by-cookie"), cookie.clone());
                }
                continue;
            }
            out.insert(key("canary-by-header"), name.clone());
            if let Some(v) = &cond.exact {
                out.insert(key("canary-by-header-value"), v.clone());
            }
            if let Some(r) = &cond.regex {
                out.insert(key("canary-by-header-pattern"), r.clone());
            }
        }
    }
    out
}

/// The live split from the canary Ingress (§4.3).
pub fn routes_from(
    annotations: &BTreeMap<String, String>,
    ab: bool,
    prefix: &str,
) -> Result<Routes, String> {
    let by = |s: &str| annotations.contains_key(&format!("{prefix}/{s}"));
    if ab && (by("canary-by-cookie") || by("canary-by-header")) {
        return Ok(Routes {
            primary: 0,
            canary: 100,
            mirrored: false,
        });
    }
    let weight = match annotations.get(&format!("{prefix}/canary-weight")) {
        None => 0,
        Some(w) => w
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("canary-weight {w:?} is not a number"))?
            .min(100),
    };
    Ok(Routes::canary_takes(weight))
}

/// Reads the live split.
async fn read_routes(client: &kube::Client, r: &Nginx<'_>) -> Result<Routes, Error> {
    let annotations = r.pair.copy_annotations(client).await?;
    routes_from(&annotations, !r.matches.is_empty(), r.prefix)
        .map_err(|why| Error::Infra(format!("ingress/{}: {why}", r.pair.canary_ingress)))
}

/// Writes a split. A plain weight is one merge patch (no read); weight 0 and A/B rules need the
/// current annotations to strip or set the `canary-*` keys, so they read first and write only
/// when something changes.
async fn set_routes(
    client: &kube::Client,
    r: &Nginx<'_>,
    canary_weight: u32,
    matches: &[HttpMatch],
) -> Result<(), Error> {
    let (name, prefix) = (r.pair.canary_ingress, r.prefix);
    let api: Api<Ingress> = Api::namespaced(client.clone(), r.pair.namespace);
    let what = format!("ingress/{name} weight {canary_weight}");
    if canary_weight > 0 && matches.is_empty() {
        let patch = serde_json::json!({"metadata": {"annotations": {
            format!("{prefix}/canary"): "true",
            format!("{prefix}/canary-weight"): canary_weight.to_string(),
        }}});
        crate::k8s::write::merge_patch(&api, name, &what, patch).await?;
        tracing::info!("{what}");
        return Ok(());
    }
    ensure(&api, name, &what, |current| {
        let cur = current?;
        let annotations = route_annotations(
            &cur.metadata.annotations.clone().unwrap_or_default(),
            canary_weight,
            matches,
            prefix,
        );
        let mut next = cur.clone();
        next.metadata.annotations = Some(annotations);
        Some(next)
    })
    .await?;
    Ok(())
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

#[cfg(test)]
mod route_tests {
    use super::*;
    use serde_json::json;

    fn m(v: serde_json::Value) -> HttpMatch {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn weights_and_ab_annotations() {
        let p = DEFAULT_PREFIX;
        let base: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
        let w = route_annotations(&base, 30, &[], p);
        assert_eq!(w["nginx.ingress.kubernetes.io/canary-weight"], "30");
        assert_eq!(
            routes_from(&w, false, p).unwrap(),
            Routes {
                primary: 70,
                canary: 30,
                mirrored: false
            }
        );
        let ab = route_annotations(
            &w,
            100,
            &[
                m(json!({"headers": {"x-user": {"exact": "insider"}}})),
                m(json!({"headers": {"cookie": {"exact": "canary"}}})),
            ],
            p,
        );
        assert_eq!(ab["nginx.ingress.kubernetes.io/canary-by-header"], "x-user");
        assert_eq!(
            ab["nginx.ingress.kubernetes.io/canary-by-header-value"],
            "insider"
        );
        assert_eq!(ab["nginx.ingress.kubernetes.io/canary-by-cookie"], "canary");
        assert_eq!(routes_from(&ab, true, p).unwrap().canary, 100);
        let rx = route_annotations(
            &base,
            100,
            &[m(
                json!({"headers": {"user-agent": {"regex": ".*Firefox.*"}}}),
            )],
            p,
        );
        assert_eq!(
            rx["nginx.ingress.kubernetes.io/canary-by-header-pattern"],
            ".*Firefox.*"
        );
        let zero = route_annotations(&ab, 0, &[], p);
        assert_eq!(
            zero.len(),
            3,
            "only a, canary and canary-weight remain: {zero:?}"
        );
        assert_eq!(zero["nginx.ingress.kubernetes.io/canary-weight"], "0");
        let custom = route_annotations(&base, 10, &[], "custom.ingress.kubernetes.io");
        assert_eq!(custom["custom.ingress.kubernetes.io/canary-weight"], "10");
        assert!(
            routes_from(
                &[(format!("{p}/canary-weight"), "x".to_string())].into(),
                false,
                p
            )
            .is_err()
        );
    }
}
