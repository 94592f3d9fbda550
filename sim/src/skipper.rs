//! The Skipper data plane: traffic through Ingresses of class `skipper` (`spec.ingressClassName`
//! or the `kubernetes.io/ingress.class` annotation), routed as Skipper routes it, counted under
//! Skipper's route metrics (`skipper_response_duration_seconds` by `code`,
//! `skipper_serve_route_duration_seconds`).
//!
//! Owns that routing and those series; must not touch the ingress-nginx series nor write to the
//! store. Requests are answered through [`DataPlane::serve`], so the pods count them too.
//!
//! - An Ingress without `zalando.org/backend-weights` gets `canary-gate.dev/sim-rps` requests per
//!   second (else the configured default), spread evenly over its paths.
//! - An Ingress with it is a weighted copy (what a canary controller makes): for a host and path
//!   of the original whose copy has backends for that path, the copy's routes win (its
//!   `Weight(100)` predicate) unless its `zalando.org/skipper-predicate` holds `False()`. The
//!   copy's backends for the path then split the requests by the weights in the annotation (a
//!   JSON map of Service name to weight).
//! - Route ids are Skipper's: `kube_<namespace>__<ingress>__<host>__<path>__<service>`, every
//!   non-word character as `_`. A backend without ready endpoints answers 503.

use crate::controller::Endpoints;
use crate::dataplane::{
    DataPlane, Histogram, annotation, ingress_traffic, observe, write_histogram,
};
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;

/// Skipper's backend weights annotation.
pub const BACKEND_WEIGHTS: &str = "zalando.org/backend-weights";
/// Skipper's route predicate annotation.
pub const PREDICATE: &str = "zalando.org/skipper-predicate";

/// Skipper's series: (route id, status code) → durations.
#[derive(Debug, Default)]
pub(crate) struct SkipperSeries {
    routes: BTreeMap<(String, String), Histogram>,
}

/// Whether an Ingress is Skipper's.
pub(crate) fn is_skipper(ing: &Value) -> bool {
    ing["spec"]["ingressClassName"] == "skipper"
        || annotation(ing, "kubernetes.io/ingress.class") == Some("skipper")
}

/// One path of an Ingress: host, path and the backend Services for it, in order.
struct Path {
    host: String,
    path: String,
    services: Vec<String>,
}

fn paths(ing: &Value) -> Vec<Path> {
    let mut out: Vec<Path> = Vec::new();
    for rule in ing["spec"]["rules"].as_array().into_iter().flatten() {
        let host = rule["host"].as_str().unwrap_or("").to_string();
        for p in rule["http"]["paths"].as_array().into_iter().flatten() {
            let Some(service) = p["backend"]["service"]["name"].as_str() else {
                continue;
            };
            let path = p["path"].as_str().unwrap_or("/").to_string();
            match out.iter_mut().find(|o| o.host == host && o.path == path) {
                Some(o) => o.services.push(service.to_string()),
                None => out.push(Path {
                    host: host.clone(),
                    path,
                    services: vec![service.to_string()],
                }),
            }
        }
    }
    out
}

/// Skipper's route id.
pub fn route_id(namespace: &str, ingress: &str, host: &str, path: &str, service: &str) -> String {
    format!("kube_{namespace}__{ingress}__{host}__{path}__{service}")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every Skipper Ingress of `ingresses`.
    pub(crate) fn tick_skipper(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        ingresses: &[&Value],
        dt: f64,
        default_rps: f64,
    ) {
        let (copies, mains): (Vec<&Value>, Vec<&Value>) = ingresses
            .iter()
            .partition(|i| annotation(i, BACKEND_WEIGHTS).is_some());
        for ing in mains {
            let (ns, name, rps) = ingress_traffic(ing, default_rps);
            let own = paths(ing);
            if own.is_empty() {
                continue;
            }
            let per_path = rps * dt / own.len() as f64;
            for (i, p) in own.iter().enumerate() {
                let n = self.take(format!("skipper/{ns}/{name}/{i}"), per_path);
                let copy = copies.iter().find_map(|c| {
                    let enabled = !annotation(c, PREDICATE).is_some_and(|v| v.contains("False()"));
                    let same_ns = c["metadata"]["namespace"].as_str() == Some(ns.as_str());
                    let path = paths(c)
                        .into_iter()
                        .find(|cp| cp.host == p.host && cp.path == p.path)?;
                    (enabled && same_ns).then_some((*c, path))
                });
                match copy {
                    None => {
                        let route = route_id(&ns, &name, &p.host, &p.path, &p.services[0]);
                        self.skipper_serve(store, controller, &ns, &p.services[0], route, n);
                    }
                    Some((c, cp)) => self.split_copy(store, controller, c, &cp, n),
                }
            }
        }
    }

    /// `n` requests through a weighted copy's backends for one path.
    fn split_copy(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        copy: &Value,
        p: &Path,
        n: u64,
    ) {
        let ns = copy["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = copy["metadata"]["name"].as_str().unwrap_or("").to_string();
        let weights: BTreeMap<String, f64> = annotation(copy, BACKEND_WEIGHTS)
            .and_then(|w| serde_json::from_str(w).ok())
            .unwrap_or_default();
        let weight = |s: &str| weights.get(s).copied().unwrap_or(0.0).max(0.0);
        let total: f64 = p.services.iter().map(|s| weight(s)).sum();
        let mut left = n;
        for (i, service) in p.services.iter().enumerate() {
            let last = i + 1 == p.services.len();
            let share = if total > 0.0 {
                weight(service) / total
            } else if i == 0 {
                1.0
            } else {
                0.0
            };
            let k = if last {
                left
            } else {
                self.take(
                    format!("skipper-w/{ns}/{name}/{}/{}/{i}", p.host, p.path),
                    n as f64 * share,
                )
                .min(left)
            };
            left -= k;
            let route = route_id(&ns, &name, &p.host, &p.path, service);
            self.skipper_serve(store, controller, &ns, service, route, k);
        }
    }

    /// Serves `n` requests for `service` and counts them under `route`.
    fn skipper_serve(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        namespace: &str,
        service: &str,
        route: String,
        n: u64,
    ) {
        if n == 0 {
            return;
        }
        let Some(served) = self.serve(store, controller, namespace, service, None, n) else {
            let h = self
                .skipper
                .routes
                .entry((route, "503".into()))
                .or_default();
            observe(h, n, 0.0);
            return;
        };
        for s in served {
            let seconds = s.latency_ms / 1000.0;
            for (code, count) in [("500", s.errors), ("200", s.ok)] {
                if count > 0 {
                    let h = self
                        .skipper
                        .routes
                        .entry((route.clone(), code.into()))
                        .or_default();
                    observe(h, count, seconds);
                }
            }
        }
    }
}

impl SkipperSeries {
    /// The exposition of Skipper's series.
    pub fn render(&self, out: &mut String) {
        for (name, help) in [
            (
                "skipper_response_duration_seconds",
                "Duration of the responses, by route and status code",
            ),
            (
                "skipper_serve_route_duration_seconds",
                "Duration of serving a route",
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
            for ((route, code), h) in &self.routes {
                let labels = format!("code=\"{code}\",method=\"GET\",route=\"{route}\"");
                write_histogram(out, name, &labels, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_ids_are_skippers() {
        assert_eq!(
            super::route_id(
                "test",
                "podinfo-ingress-canary",
                "app.example.com",
                "/",
                "podinfo-canary"
            ),
            "kube_test__podinfo_ingress_canary__app_example_com_____podinfo_canary"
        );
    }
}
