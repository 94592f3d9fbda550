//! The APISIX data plane: traffic through APISIX's routes (`apisix.apache.org/v2` ApisixRoute
//! `http` entries), counted as APISIX's prometheus plugin counts it with `prefer_name`:
//! `apisix_http_status` by `code` and the `apisix_http_latency` histogram (`type="request"`, in
//! milliseconds), per route `<namespace>_<ApisixRoute>_<entry>`.
//!
//! Owns that routing and those series; must not touch other providers' series nor write to the
//! store. Requests are answered through [`DataPlane::serve`], so the pods count them too.
//!
//! - Entries with the same `match` (paths, hosts, methods) in a namespace compete for the same
//!   requests; the one with the highest `priority` takes them all, as in APISIX.
//! - The requests for a match are `canary-gate.dev/sim-rps` of an ApisixRoute holding it (else the
//!   configured default), shared evenly by that route's entries; the least of these when several
//!   routes hold the match (a copy of a route does not add traffic).
//! - The winning entry's `backends` split by `weight` (100 when unset, APISIX's default). A
//!   Service without ready endpoints answers 502.

use crate::controller::Endpoints;
use crate::dataplane::{DataPlane, RPS_ANNOTATION, number_annotation};
use crate::mesh::{MsHistogram, kind, write_ms_histogram};
use crate::selector::Selector;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The prometheus plugin's default latency buckets (milliseconds).
pub const APISIX_BUCKETS_MS: [f64; 15] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0,
    60000.0,
];

/// APISIX's series: (route, code) → latencies.
#[derive(Debug, Default)]
pub(crate) struct ApisixSeries {
    routes: BTreeMap<(String, String), MsHistogram>,
}

/// One `http` entry, where it lives and what it asks for.
struct Entry {
    namespace: String,
    route: String,
    entry: Value,
    rps: f64,
}

impl Entry {
    fn key(&self) -> String {
        let m = &self.entry["match"];
        format!(
            "{}|{}|{}|{}",
            self.namespace, m["hosts"], m["paths"], m["methods"]
        )
    }

    fn priority(&self) -> i64 {
        self.entry["priority"].as_i64().unwrap_or(0)
    }
}

fn entries(store: &Store, default_rps: f64) -> Vec<Entry> {
    let none = Selector::default();
    let mut out = Vec::new();
    for r in store.list_items(kind("ApisixRoute"), None, &none, &none) {
        let http: Vec<Value> = r["spec"]["http"].as_array().cloned().unwrap_or_default();
        let rps = number_annotation(&r, RPS_ANNOTATION).unwrap_or(default_rps);
        let share = rps / http.len().max(1) as f64;
        for entry in http {
            out.push(Entry {
                namespace: r["metadata"]["namespace"].as_str().unwrap_or("").into(),
                route: r["metadata"]["name"].as_str().unwrap_or("").into(),
                entry,
                rps: share,
            });
        }
    }
    out
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every ApisixRoute match.
    pub(crate) fn tick_apisix(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
    ) {
        let mut by_match: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for e in entries(store, default_rps) {
            by_match.entry(e.key()).or_default().push(e);
        }
        for (key, group) in by_match {
            let rps = group.iter().map(|e| e.rps).fold(f64::INFINITY, f64::min);
            let Some(winner) = group.iter().max_by_key(|e| e.priority()) else {
                continue;
            };
            let n = self.take(format!("apisix/{key}"), rps * dt);
            let name = winner.entry["name"].as_str().unwrap_or("");
            let label = format!("{}_{}_{name}", winner.namespace, winner.route);
            let backends: Vec<(&str, f64)> = winner.entry["backends"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| {
                    Some((
                        b["serviceName"].as_str()?,
                        b["weight"].as_f64().unwrap_or(100.0),
                    ))
                })
                .collect();
            let weights: Vec<f64> = backends.iter().map(|b| b.1).collect();
            let counts = self.split_by_weight(&format!("apisix/{key}/b"), n, &weights);
            for ((service, _), k) in backends.iter().zip(counts) {
                self.apisix_serve(store, controller, &winner.namespace, service, &label, k);
            }
        }
    }

    fn apisix_serve(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        ns: &str,
        service: &str,
        route: &str,
        n: u64,
    ) {
        if n == 0 {
            return;
        }
        let Some(served) = self.serve(store, controller, ns, service, None, n) else {
            self.apisix.count(route, "502", n, 0.0);
            return;
        };
        for s in served {
            self.apisix.count(route, "500", s.errors, s.latency_ms);
            self.apisix.count(route, "200", s.ok, s.latency_ms);
        }
    }
}

impl ApisixSeries {
    fn count(&mut self, route: &str, code: &str, n: u64, ms: f64) {
        if n > 0 {
            let h = self.routes.entry((route.to_string(), code.into()));
            h.or_default().observe(&APISIX_BUCKETS_MS, n, ms);
        }
    }

    /// The exposition of the prometheus plugin's series.
    pub fn render(&self, out: &mut String) {
        let labels = |route: &str| {
            format!(
                "route=\"{route}\",matched_uri=\"\",matched_host=\"\",service=\"\",consumer=\"\",node=\"\""
            )
        };
        out.push_str("# HELP apisix_http_status HTTP status codes per service in APISIX\n");
        out.push_str("# TYPE apisix_http_status counter\n");
        for ((route, code), h) in &self.routes {
            let _ = writeln!(
                out,
                "apisix_http_status{{code=\"{code}\",{}}} {}",
                labels(route),
                h.count
            );
        }
        let mut by_route: BTreeMap<&str, MsHistogram> = BTreeMap::new();
        for ((route, _), h) in &self.routes {
            by_route.entry(route).or_default().add(h);
        }
        let name = "apisix_http_latency";
        out.push_str(&format!(
            "# HELP {name} HTTP request latency in milliseconds per service in APISIX\n# TYPE {name} histogram\n"
        ));
        for (route, h) in by_route {
            let l = format!("type=\"request\",{}", labels(route));
            write_ms_histogram(out, name, &l, &APISIX_BUCKETS_MS, &h);
        }
    }
}
