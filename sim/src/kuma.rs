//! The Kuma data plane: in-mesh traffic through Kuma's TrafficRoutes (`kuma.io/v1alpha1`,
//! cluster-scoped), counted as the destination data plane proxies report it: Envoy's
//! `envoy_cluster_upstream_rq` and `envoy_cluster_upstream_rq_time` on the inbound cluster
//! `localhost_<port>`, labelled with the proxy's `service` tag `<service>_<namespace>_svc_<port>`.
//!
//! Owns that routing; must not touch other providers' series nor write to the store.
//!
//! - A TrafficRoute carrying `canary-gate.dev/sim-rps` sends that many requests per second to its
//!   first destination, split by `spec.conf.split[].weight` between the services its
//!   `destination` tags name. A Service without ready endpoints answers 503.

use crate::controller::Endpoints;
use crate::dataplane::{DataPlane, RPS_ANNOTATION, number_annotation};
use crate::mesh::kind;
use crate::selector::Selector;
use crate::store::Store;

/// Kuma's service tag.
const SERVICE_TAG: &str = "kuma.io/service";

/// A service tag `<service>_<namespace>_svc_<port>` as (namespace, service, port).
pub fn parse_tag(tag: &str) -> Option<(&str, &str, &str)> {
    let (left, port) = tag.rsplit_once("_svc_")?;
    let (service, ns) = left.split_once('_')?;
    Some((ns, service, port))
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every TrafficRoute with a rate.
    pub(crate) fn tick_kuma(&mut self, store: &Store, controller: &dyn Endpoints, dt: f64) {
        let none = Selector::default();
        for route in store.list_items(kind("TrafficRoute"), None, &none, &none) {
            let Some(rps) = number_annotation(&route, RPS_ANNOTATION) else {
                continue;
            };
            let name = route["metadata"]["name"].as_str().unwrap_or("");
            let key = format!("kuma/{name}");
            let n = self.take(key.clone(), rps * dt);
            let splits: Vec<(String, f64)> = route["spec"]["conf"]["split"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    let tag = s["destination"][SERVICE_TAG].as_str()?;
                    Some((tag.to_string(), s["weight"].as_f64().unwrap_or(0.0)))
                })
                .collect();
            let weights: Vec<f64> = splits.iter().map(|s| s.1).collect();
            let counts = self.split_by_weight(&key, n, &weights);
            for ((tag, _), k) in splits.iter().zip(counts) {
                let Some((ns, service, port)) = parse_tag(tag) else {
                    continue;
                };
                let labels = format!(
                    "{},service=\"{tag}\"",
                    crate::envoy::cluster(&format!("localhost_{port}"))
                );
                self.envoy_serve(store, controller, ns, service, labels, k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_read_back() {
        assert_eq!(
            super::parse_tag("podinfo-canary_test_svc_9898"),
            Some(("test", "podinfo-canary", "9898"))
        );
        assert_eq!(super::parse_tag("nonsense"), None);
    }
}
