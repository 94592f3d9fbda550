//! The Contour and Gloo data planes and Envoy's upstream series: traffic through Contour's root
//! HTTPProxies (those with a `virtualhost`) and the proxies they include, and through Gloo's
//! RouteTables, counted as their Envoy counts it (`envoy_cluster_upstream_rq` by
//! `envoy_response_code`, and the `envoy_cluster_upstream_rq_time` histogram in milliseconds),
//! per Envoy cluster: `<namespace>_<service>_<port>` for Contour, `<upstream>_<namespace>` for
//! Gloo.
//!
//! Owns that routing and those series; must not touch other providers' series nor write to the
//! store. Requests are answered through [`DataPlane::serve`], so the pods count them too.
//!
//! - A root HTTPProxy gets `canary-gate.dev/sim-rps` requests per second (else the configured
//!   default), shared evenly between its own routes (when it has any) and each proxy it
//!   `includes` (`name`, and `namespace` defaulting to the root's).
//! - Within one proxy's routes, the first route with a `header` condition takes the share of
//!   requests carrying it (`canary-gate.dev/sim-header-share` on the root, else the configured
//!   default); the first route without one takes the rest.
//! - A route's `services` split by `weight`; when no service has a weight they share equally, as
//!   Contour does. A Service without ready endpoints answers 503.
//! - A Gloo RouteTable carrying `canary-gate.dev/sim-rps` gets that many requests per second, as
//!   if a VirtualService delegated to it. Its first route with header `matchers` takes the share
//!   carrying them (`canary-gate.dev/sim-header-share`, else the default); its first route without
//!   matchers takes the rest (with none, the rest finds no route). A route's
//!   `routeAction.multi.destinations` split by `weight` to Upstreams, whose `kube` names the
//!   Service and port.

use crate::controller::Endpoints;
use crate::dataplane::{DataPlane, HEADER_SHARE_ANNOTATION, RPS_ANNOTATION, number_annotation};
use crate::mesh::{ISTIO_BUCKETS_MS, MsHistogram, kind, write_ms_histogram};
use crate::selector::Selector;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Envoy's upstream series: (labels, response code) → durations in milliseconds. The labels
/// name the cluster (`envoy_cluster_name`), and for Kuma the proxy's `service` tag too.
#[derive(Debug, Default)]
pub(crate) struct EnvoySeries {
    clusters: BTreeMap<(String, String), MsHistogram>,
}

/// The labels of an Envoy cluster's series.
pub(crate) fn cluster(name: &str) -> String {
    format!("envoy_cluster_name=\"{name}\"")
}

/// The proxies a root's traffic reaches: its own routes, then each included proxy's.
fn route_sets(store: &Store, root: &Value, ns: &str) -> Vec<(String, Vec<Value>)> {
    let mut sets = Vec::new();
    if let Some(routes) = root["spec"]["routes"].as_array().filter(|r| !r.is_empty()) {
        sets.push((ns.to_string(), routes.clone()));
    }
    for inc in root["spec"]["includes"].as_array().into_iter().flatten() {
        let Some(name) = inc["name"].as_str() else {
            continue;
        };
        let inc_ns = inc["namespace"].as_str().unwrap_or(ns);
        let Ok(child) = store.get(kind("HTTPProxy"), inc_ns, name) else {
            continue;
        };
        let routes = child["spec"]["routes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        sets.push((inc_ns.to_string(), routes));
    }
    sets
}

fn has_header(route: &Value) -> bool {
    route["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["header"].is_object()))
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every root HTTPProxy.
    pub(crate) fn tick_contour(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
        default_header_share: f64,
    ) {
        let none = Selector::default();
        let proxies = store.list_items(kind("HTTPProxy"), None, &none, &none);
        for root in proxies
            .iter()
            .filter(|p| p["spec"]["virtualhost"].is_object())
        {
            let ns = root["metadata"]["namespace"].as_str().unwrap_or("");
            let name = root["metadata"]["name"].as_str().unwrap_or("");
            let rps = number_annotation(root, RPS_ANNOTATION).unwrap_or(default_rps);
            let share =
                number_annotation(root, HEADER_SHARE_ANNOTATION).unwrap_or(default_header_share);
            let sets = route_sets(store, root, ns);
            let per_set = rps * dt / sets.len().max(1) as f64;
            for (i, (set_ns, routes)) in sets.iter().enumerate() {
                let key = format!("contour/{ns}/{name}/{i}");
                let n = self.take(key.clone(), per_set);
                let header = routes.iter().find(|r| has_header(r));
                let plain = routes.iter().find(|r| !has_header(r));
                let matched = match header {
                    Some(_) => self.take(format!("{key}/hdr"), n as f64 * share).min(n),
                    None => 0,
                };
                for (route, count, tag) in [(header, matched, "h"), (plain, n - matched, "p")] {
                    if let Some(route) = route {
                        let key = format!("{key}/{tag}");
                        self.contour_route(store, controller, set_ns, route, count, &key);
                    }
                }
            }
        }
    }

    /// `n` requests through one route's weighted services.
    fn contour_route(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        ns: &str,
        route: &Value,
        n: u64,
        key: &str,
    ) {
        let services: Vec<(&str, String, f64)> = route["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let port = s["port"]
                    .as_i64()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                Some((
                    s["name"].as_str()?,
                    port,
                    s["weight"].as_f64().unwrap_or(0.0),
                ))
            })
            .collect();
        let unweighted = services.iter().all(|s| s.2 <= 0.0);
        let weights: Vec<f64> = services
            .iter()
            .map(|s| if unweighted { 1.0 } else { s.2.max(0.0) })
            .collect();
        let counts = self.split_by_weight(key, n, &weights);
        for ((service, port, _), k) in services.iter().zip(counts) {
            let cluster = cluster(&format!("{ns}_{service}_{port}"));
            self.envoy_serve(store, controller, ns, service, cluster, k);
        }
    }

    /// Serves `n` requests for `service` and counts them under the series `labels` (see
    /// [`cluster`]).
    pub(crate) fn envoy_serve(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        ns: &str,
        service: &str,
        labels: String,
        n: u64,
    ) {
        if n == 0 {
            return;
        }
        let Some(served) = self.serve(store, controller, ns, service, None, n) else {
            let h = self
                .envoy
                .clusters
                .entry((labels, "503".into()))
                .or_default();
            h.observe(&ISTIO_BUCKETS_MS, n, 0.0);
            return;
        };
        for s in served {
            for (code, count) in [("500", s.errors), ("200", s.ok)] {
                if count > 0 {
                    let h = self
                        .envoy
                        .clusters
                        .entry((labels.clone(), code.into()))
                        .or_default();
                    h.observe(&ISTIO_BUCKETS_MS, count, s.latency_ms);
                }
            }
        }
    }
}

fn has_matchers(route: &Value) -> bool {
    route["matchers"].as_array().is_some_and(|ms| {
        ms.iter()
            .any(|m| m["headers"].as_array().is_some_and(|h| !h.is_empty()))
    })
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every RouteTable with a rate.
    pub(crate) fn tick_gloo(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_header_share: f64,
    ) {
        let none = Selector::default();
        for table in store.list_items(kind("RouteTable"), None, &none, &none) {
            let Some(rps) = number_annotation(&table, RPS_ANNOTATION) else {
                continue;
            };
            let share =
                number_annotation(&table, HEADER_SHARE_ANNOTATION).unwrap_or(default_header_share);
            let ns = table["metadata"]["namespace"].as_str().unwrap_or("");
            let key = format!(
                "gloo/{ns}/{}",
                table["metadata"]["name"].as_str().unwrap_or("")
            );
            let routes: Vec<&Value> = table["spec"]["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let n = self.take(key.clone(), rps * dt);
            let header = routes.iter().find(|r| has_matchers(r));
            let plain = routes.iter().find(|r| !has_matchers(r));
            let matched = match header {
                Some(_) => self.take(format!("{key}/hdr"), n as f64 * share).min(n),
                None => 0,
            };
            for (route, count, tag) in [(header, matched, "h"), (plain, n - matched, "p")] {
                if let Some(route) = route {
                    self.gloo_route(store, controller, ns, route, count, &format!("{key}/{tag}"));
                }
            }
        }
    }

    fn gloo_route(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        ns: &str,
        route: &Value,
        n: u64,
        key: &str,
    ) {
        let dests: Vec<(String, String, f64)> = route["routeAction"]["multi"]["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let up = &d["destination"]["upstream"];
                let up_ns = up["namespace"].as_str().unwrap_or(ns).to_string();
                Some((
                    up_ns,
                    up["name"].as_str()?.to_string(),
                    d["weight"].as_f64().unwrap_or(0.0),
                ))
            })
            .collect();
        let weights: Vec<f64> = dests.iter().map(|d| d.2).collect();
        let counts = self.split_by_weight(key, n, &weights);
        for ((up_ns, name, _), k) in dests.iter().zip(counts) {
            let Ok(upstream) = store.get(kind("Upstream"), up_ns, name) else {
                continue;
            };
            let kube = &upstream["spec"]["kube"];
            let svc_ns = kube["serviceNamespace"].as_str().unwrap_or(up_ns);
            let Some(service) = kube["serviceName"].as_str() else {
                continue;
            };
            let cluster = cluster(&format!("{name}_{up_ns}"));
            self.envoy_serve(store, controller, svc_ns, service, cluster, k);
        }
    }
}

impl EnvoySeries {
    /// The exposition of Envoy's upstream series (Envoy's default histogram buckets).
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP envoy_cluster_upstream_rq Upstream requests, by response code\n");
        out.push_str("# TYPE envoy_cluster_upstream_rq counter\n");
        for ((labels, code), h) in &self.clusters {
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_rq{{{labels},envoy_response_code=\"{code}\"}} {}",
                h.count
            );
        }
        let mut by_cluster: BTreeMap<&str, MsHistogram> = BTreeMap::new();
        for ((labels, _), h) in &self.clusters {
            by_cluster.entry(labels).or_default().add(h);
        }
        let name = "envoy_cluster_upstream_rq_time";
        out.push_str(&format!(
            "# HELP {name} Upstream request time in milliseconds\n# TYPE {name} histogram\n"
        ));
        for (labels, h) in by_cluster {
            write_ms_histogram(out, name, labels, &ISTIO_BUCKETS_MS, &h);
        }
    }
}
