//! The Traefik data plane: traffic through Traefik's IngressRoutes (`traefik.io/v1alpha1`), down
//! to Kubernetes Services directly or through TraefikServices' weighted round robins, counted as
//! Traefik counts it: `traefik_service_request_duration_seconds` by `code`, per Traefik service
//! `<namespace>-<service>-<port>@kubernetescrd`.
//!
//! Owns that routing and that series; must not touch other providers' series nor write to the
//! store. Requests are answered through [`DataPlane::serve`], so the pods count them too.
//!
//! - An IngressRoute gets `canary-gate.dev/sim-rps` requests per second (else the configured
//!   default), shared evenly between its `routes`; a route's `services` split by `weight`
//!   (Traefik's default weight is 1).
//! - A service of `kind: TraefikService` resolves to that object's `weighted.services`, split the
//!   same way (nested up to four levels). A Service without ready endpoints answers 503.

use crate::controller::Endpoints;
use crate::dataplane::{
    DataPlane, Histogram, RPS_ANNOTATION, number_annotation, observe, write_histogram,
};
use crate::mesh::kind;
use crate::selector::Selector;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;

/// How deep TraefikServices may nest.
const MAX_DEPTH: u32 = 4;

/// Traefik's series: (service, code) → durations.
#[derive(Debug, Default)]
pub(crate) struct TraefikSeries {
    services: BTreeMap<(String, String), Histogram>,
}

/// One weighted entry of a route or a weighted round robin.
struct Entry {
    namespace: String,
    name: String,
    port: String,
    weight: f64,
    traefik_service: bool,
}

fn entries(list: &Value, namespace: &str) -> Vec<Entry> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let port = match &s["port"] {
                Value::Number(n) => n.to_string(),
                Value::String(p) => p.clone(),
                _ => String::new(),
            };
            Some(Entry {
                namespace: s["namespace"].as_str().unwrap_or(namespace).to_string(),
                name: s["name"].as_str()?.to_string(),
                port,
                weight: s["weight"].as_f64().unwrap_or(1.0).max(0.0),
                traefik_service: s["kind"] == "TraefikService",
            })
        })
        .collect()
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every IngressRoute.
    pub(crate) fn tick_traefik(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
    ) {
        let none = Selector::default();
        for ir in store.list_items(kind("IngressRoute"), None, &none, &none) {
            let ns = ir["metadata"]["namespace"].as_str().unwrap_or("");
            let name = ir["metadata"]["name"].as_str().unwrap_or("");
            let rps = number_annotation(&ir, RPS_ANNOTATION).unwrap_or(default_rps);
            let routes: Vec<&Value> = ir["spec"]["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let per_route = rps * dt / routes.len().max(1) as f64;
            for (i, route) in routes.iter().enumerate() {
                let key = format!("traefik/{ns}/{name}/{i}");
                let n = self.take(key.clone(), per_route);
                let list = entries(&route["services"], ns);
                self.traefik_split(store, controller, &list, n, &key, 0);
            }
        }
    }

    /// `n` requests across `list` by weight.
    fn traefik_split(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        list: &[Entry],
        n: u64,
        key: &str,
        depth: u32,
    ) {
        let weights: Vec<f64> = list.iter().map(|e| e.weight).collect();
        let counts = self.split_by_weight(key, n, &weights);
        for (i, (e, k)) in list.iter().zip(counts).enumerate() {
            if !e.traefik_service {
                self.traefik_serve(store, controller, e, k);
                continue;
            }
            let Ok(ts) = store.get(kind("TraefikService"), &e.namespace, &e.name) else {
                continue;
            };
            if depth < MAX_DEPTH {
                let inner = entries(&ts["spec"]["weighted"]["services"], &e.namespace);
                let key = format!("{key}/{i}");
                self.traefik_split(store, controller, &inner, k, &key, depth + 1);
            }
        }
    }

    /// Serves `n` requests for a Kubernetes Service and counts them under its Traefik service.
    fn traefik_serve(&mut self, store: &Store, controller: &dyn Endpoints, e: &Entry, n: u64) {
        if n == 0 {
            return;
        }
        let service = format!("{}-{}-{}@kubernetescrd", e.namespace, e.name, e.port);
        let Some(served) = self.serve(store, controller, &e.namespace, &e.name, None, n) else {
            let h = self
                .traefik
                .services
                .entry((service, "503".into()))
                .or_default();
            observe(h, n, 0.0);
            return;
        };
        for s in served {
            for (code, count) in [("500", s.errors), ("200", s.ok)] {
                if count > 0 {
                    let h = self
                        .traefik
                        .services
                        .entry((service.clone(), code.into()))
                        .or_default();
                    observe(h, count, s.latency_ms / 1000.0);
                }
            }
        }
    }
}

impl TraefikSeries {
    /// The exposition of Traefik's service histogram.
    pub fn render(&self, out: &mut String) {
        let name = "traefik_service_request_duration_seconds";
        out.push_str(&format!(
            "# HELP {name} How long requests to a service took, by status code\n# TYPE {name} histogram\n"
        ));
        for ((service, code), h) in &self.services {
            let labels =
                format!("code=\"{code}\",method=\"GET\",protocol=\"http\",service=\"{service}\"");
            write_histogram(out, name, &labels, h);
        }
    }
}
