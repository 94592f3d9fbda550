//! The Traefik router end to end through the binary, on whichever back end the suite runs: the
//! user's IngressRoute pointing at the TraefikService canary-gate owns, the simulator's Traefik
//! data plane splitting by its weighted round robin and exporting Traefik's service histogram,
//! and a real Prometheus that Flagger's Traefik queries read. A good release is promoted
//! through the weights (sampled while `run` works), a faulty one rolled back by
//! `request-success-rate`; the apex metadata lands on the TraefikService as in Flagger's e2e.

use crate::cluster::Cluster;
use serde_json::json;

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: traefik
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service:
    port: 80
    targetPort: 9898
    apex:
      labels: {test: test-label}
      annotations: {test: test-annotation}
  analysis:
    interval: 2s
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: request-success-rate, interval: 10s, thresholdRange: {min: 99}}
      - {name: request-duration, interval: 10s, thresholdRange: {max: 500}}
";

/// The fixture app with its NGINX Ingress silent, and an IngressRoute to the TraefikService.
fn app(c: &Cluster) {
    c.podinfo_behind_another_router();
    c.create(json!({
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "podinfo", "namespace": "test",
            "annotations": {"canary-gate.dev/sim-rps": "200"}},
        "spec": {
            "entryPoints": ["web"],
            "routes": [{"match": "Host(`app.example.com`)", "kind": "Rule",
                "services": [{"name": "podinfo", "kind": "TraefikService"}]}],
        },
    }));
}

/// `(primary, canary)` weights of the TraefikService (0 for an entry it does not list).
fn weights(c: &Cluster) -> Option<(u64, u64)> {
    let ts = c.find("traefik.io/v1alpha1", "TraefikService", "podinfo")?;
    let services = ts["spec"]["weighted"]["services"].as_array()?.clone();
    let w = |name: &str| {
        services
            .iter()
            .find(|s| s["name"] == name)
            .map_or(0, |s| s["weight"].as_u64().unwrap_or(0))
    };
    Some((w("podinfo-primary"), w("podinfo-canary")))
}

#[test]
fn traefik_promotes_a_good_release_and_rolls_back_a_faulty_one() {
    let c = Cluster::new();
    app(&c);
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || weights(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let ts = c.get("traefik.io/v1alpha1", "TraefikService", "podinfo");
    assert_eq!(ts["metadata"]["labels"]["test"], "test-label");
    assert_eq!(ts["metadata"]["annotations"]["test"], "test-annotation");
    assert_eq!(
        ts["spec"]["weighted"]["services"],
        json!([{"name": "podinfo-primary", "namespace": "test", "port": 80, "weight": 100}]),
        "the canary is listed only while it has weight"
    );

    let (good, _) = c.good_then_faulty(&spec, || weights(&c), |s| s.1);
    assert!(good.iter().all(|s| s.0 + s.1 == 100), "{good:?}");
}

#[test]
fn traefik_is_driven_and_a_b_is_not_its() {
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    crate::cluster::validate_ignores_ab(&spec, "traefik");
}
