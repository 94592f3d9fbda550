//! The Skipper router (Flagger's `skipper`): the `<ingress>-canary` copy of the user's Ingress in
//! which each path to the apex Service goes to `<apex>-primary` and, as a second backend for the
//! same path, to `<apex>-canary`. Skipper splits between them by the annotation
//! `zalando.org/backend-weights` (a JSON map of Service name to weight); the route predicate
//! `Weight(100)` makes the copy's routes win over the original's, and `False()` in its place turns
//! the copy off at canary weight 0. The user's Ingress is never changed. Weight changes belong to
//! the rollout.

use super::TrafficRouter;
use super::nginx::{IngressPair, canary_ingress_step, copy_of};
use crate::error::Error;
use crate::k8s::OWNER_ANNOTATION;
use crate::k8s::desired::{InitStep, Read};
use crate::k8s::write::ensure;
use crate::rollout::{Routes, canary_name, primary_name};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::Api;
use std::collections::BTreeMap;
use std::time::Duration;

/// Skipper's backend weights annotation.
pub const BACKEND_WEIGHTS: &str = "zalando.org/backend-weights";
/// Skipper's route predicate annotation.
pub const PREDICATE: &str = "zalando.org/skipper-predicate";
const WEIGHT: &str = "Weight(100)";
const DISABLE: &str = "False()";

/// The Skipper router of one canary: its `<ingress>-canary` copy carries the weights.
pub struct Skipper<'a> {
    /// The user's Ingress and its copy.
    pub pair: IngressPair<'a>,
}

/// The canary Ingress for `original`: every path to `apex` now goes to `<apex>-primary`, with a
/// copy of the path to `<apex>-canary` appended to its rule; the original's labels and
/// annotations, plus the weights (all on the primary) and `Weight(100)` first among the
/// predicates. Errors when no path uses the apex Service.
pub fn render_canary(original: &Ingress, apex: &str, owner: &str) -> Result<Ingress, String> {
    let name = original.metadata.name.clone().unwrap_or_default();
    let mut spec = original.spec.clone().unwrap_or_default();
    let mut matched = false;
    for rule in spec.rules.iter_mut().flatten() {
        let Some(http) = rule.http.as_mut() else {
            continue;
        };
        let mut copies = Vec::new();
        for path in http.paths.iter_mut() {
            if let Some(svc) = path.backend.service.as_mut()
                && svc.name == apex
            {
                svc.name = primary_name(apex);
                let mut copy = path.clone();
                if let Some(c) = copy.backend.service.as_mut() {
                    c.name = canary_name(apex);
                }
                copies.push(copy);
                matched = true;
            }
        }
        http.paths.extend(copies);
    }
    if !matched {
        return Err(format!("backend {apex} not found in ingress {name}"));
    }
    let mut annotations = original.metadata.annotations.clone().unwrap_or_default();
    annotations.extend(annotations_for(&annotations, apex, ALL_ON_PRIMARY, WEIGHT));
    annotations.insert(OWNER_ANNOTATION.to_string(), owner.to_string());
    Ok(copy_of(original, spec, annotations))
}

const ALL_ON_PRIMARY: Routes = super::ALL_PRIMARY;

/// The two annotations for a split as the rollout writes it: the weights, and the predicates
/// with `Weight(100)` first — or, at canary weight 0, `False()` first (and no `Weight(100)`),
/// which turns the copy off, as Flagger writes them. (The copy is created enabled, all on the
/// primary.)
pub fn route_annotations(
    current: &BTreeMap<String, String>,
    apex: &str,
    split: Routes,
) -> BTreeMap<String, String> {
    let first = if split.canary == 0 { DISABLE } else { WEIGHT };
    annotations_for(current, apex, split, first)
}

fn annotations_for(
    current: &BTreeMap<String, String>,
    apex: &str,
    split: Routes,
    first: &str,
) -> BTreeMap<String, String> {
    let weights =
        serde_json::json!({primary_name(apex): split.primary, canary_name(apex): split.canary});
    let predicate = with_first(current.get(PREDICATE).map_or("", String::as_str), first);
    BTreeMap::from([
        (BACKEND_WEIGHTS.to_string(), weights.to_string()),
        (PREDICATE.to_string(), predicate),
    ])
}

/// `first`, then the user's predicates (without `Weight(100)` or `False()`), joined by `&&`.
fn with_first(raw: &str, first: &str) -> String {
    let rest = raw
        .split("&&")
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != WEIGHT && *p != DISABLE);
    std::iter::once(first)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(" && ")
}

/// The live split from the canary Ingress's weights.
pub fn routes_from(annotations: &BTreeMap<String, String>, apex: &str) -> Result<Routes, String> {
    let raw = annotations
        .get(BACKEND_WEIGHTS)
        .ok_or_else(|| format!("annotation {BACKEND_WEIGHTS} is missing"))?;
    let weights: BTreeMap<String, i64> = serde_json::from_str(raw).map_err(|e| {
        format!("annotation {BACKEND_WEIGHTS} {raw:?} is not a map of weights: {e}")
    })?;
    let weight = |name: String| {
        weights
            .get(&name)
            .map(|w| (*w).clamp(0, 100) as u32)
            .ok_or_else(|| format!("annotation {BACKEND_WEIGHTS} has no weight for {name}"))
    };
    Ok(Routes {
        primary: weight(primary_name(apex))?,
        canary: weight(canary_name(apex))?,
        mirrored: false,
    })
}

#[async_trait::async_trait]
impl TrafficRouter for Skipper<'_> {
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let p = &self.pair;
        let original = p.original(read).await?;
        let want = render_canary(&original, p.apex, p.owner)
            .map_err(|why| Error::Invalid(format!("ingress/{}: {why}", p.ingress)))?;
        Ok(vec![canary_ingress_step(
            want,
            "init; its backend-weights annotation carries the weights",
        )])
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let annotations = self.pair.copy_annotations(client).await?;
        routes_from(&annotations, self.pair.apex)
            .map_err(|why| Error::Infra(format!("ingress/{}: {why}", self.pair.canary_ingress)))
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let (name, apex) = (self.pair.canary_ingress, self.pair.apex);
        let api: Api<Ingress> = Api::namespaced(client.clone(), self.pair.namespace);
        let what = format!("ingress/{name} weight {}", split.canary);
        ensure(&api, name, &what, |current| {
            let mut next = current?.clone();
            let mut annotations = next.metadata.annotations.clone().unwrap_or_default();
            let routed = route_annotations(&annotations, apex, split);
            annotations.extend(routed);
            next.metadata.annotations = Some(annotations);
            Some(next)
        })
        .await?;
        Ok(())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_copy_routes_each_apex_path_to_both_versions() {
        let original: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "podinfo-ingress", "namespace": "test", "labels": {"app": "podinfo"},
                         "annotations": {"kubernetes.io/ingress.class": "skipper",
                                         "zalando.org/skipper-predicate": "Method(\"GET\") && False()"}},
            "spec": {"rules": [{"host": "app.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "podinfo", "port": {"number": 80}}}},
                {"path": "/other", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap();
        let c = serde_json::to_value(render_canary(&original, "podinfo", "test/podinfo").unwrap())
            .unwrap();
        assert_eq!(c["metadata"]["name"], "podinfo-ingress-canary");
        let paths = &c["spec"]["rules"][0]["http"]["paths"];
        let backends: Vec<&str> = paths
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["backend"]["service"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(backends, ["podinfo-primary", "other", "podinfo-canary"]);
        let a = &c["metadata"]["annotations"];
        assert_eq!(
            a[BACKEND_WEIGHTS],
            r#"{"podinfo-canary":0,"podinfo-primary":100}"#
        );
        assert_eq!(a[PREDICATE], "Weight(100) && Method(\"GET\")");
        assert_eq!(a["kubernetes.io/ingress.class"], "skipper");
        assert!(
            render_canary(&original, "nope", "x")
                .unwrap_err()
                .contains("backend nope not found")
        );
    }

    #[test]
    fn weights_and_the_off_switch() {
        let at = |primary, canary| Routes {
            primary,
            canary,
            mirrored: false,
        };
        let cur = BTreeMap::from([(
            PREDICATE.to_string(),
            "Weight(100) && Host(\"x\")".to_string(),
        )]);
        let ten = route_annotations(&cur, "podinfo", at(90, 10));
        assert_eq!(ten[PREDICATE], "Weight(100) && Host(\"x\")");
        assert_eq!(routes_from(&ten, "podinfo").unwrap(), at(90, 10));
        let off = route_annotations(&ten, "podinfo", at(100, 0));
        assert_eq!(off[PREDICATE], "False() && Host(\"x\")");
        assert_eq!(routes_from(&off, "podinfo").unwrap(), at(100, 0));
        assert_eq!(
            route_annotations(&off, "podinfo", at(50, 50))[PREDICATE],
            "Weight(100) && Host(\"x\")"
        );
        assert!(
            routes_from(&BTreeMap::new(), "podinfo")
                .unwrap_err()
                .contains("is missing")
        );
    }
}
