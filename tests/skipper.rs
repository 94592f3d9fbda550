//! The Skipper router end to end through the binary, on whichever back end the suite runs: the
//! fixture app's Ingress served by Skipper (class `skipper`), the canary copy of it that
//! canary-gate makes, the simulator's Skipper data plane splitting by its backend weights and
//! exporting Skipper's route series, and a real Prometheus that Flagger's Skipper queries read.
//! A good release is promoted through the weights (sampled while `run` works), a faulty one
//! rolled back by `request-success-rate`; validate and plan know the provider.

use crate::cluster::Cluster;
use crate::support::cg;
use canary_gate::router::skipper::{BACKEND_WEIGHTS, PREDICATE};
use serde_json::{Value, json};

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: skipper
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}
  progressDeadlineSeconds: 60
  service: {port: 80, targetPort: 9898}
  analysis:
    interval: 2s
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: request-success-rate, interval: 10s, thresholdRange: {min: 99}}
      - {name: request-duration, interval: 10s, thresholdRange: {max: 500}}
";

/// The copy's `(primary, canary, enabled)`.
fn split(c: &Cluster) -> Option<(u32, u32, bool)> {
    let copy = c.find("networking.k8s.io/v1", "Ingress", "podinfo-canary")?;
    let a = &copy["metadata"]["annotations"];
    let weights: Value = serde_json::from_str(a[BACKEND_WEIGHTS].as_str()?).ok()?;
    let w = |s: &str| weights[s].as_u64().map(|w| w as u32);
    let enabled = !a[PREDICATE].as_str()?.contains("False()");
    Some((w("podinfo-primary")?, w("podinfo-canary")?, enabled))
}

#[test]
fn skipper_promotes_a_good_release_and_rolls_back_a_faulty_one() {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
        if o["kind"] == "Ingress" {
            o["spec"]["ingressClassName"] = json!("skipper");
            o["metadata"]["annotations"] = json!({"canary-gate.dev/sim-rps": "200"});
        }
    });
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || split(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let copy = c.get("networking.k8s.io/v1", "Ingress", "podinfo-canary");
    let backends: Vec<&str> = copy["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["backend"]["service"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["podinfo-primary", "podinfo-canary"]);
    let original = c.get("networking.k8s.io/v1", "Ingress", "podinfo");
    assert_eq!(
        original["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "podinfo",
        "the user's Ingress is left alone"
    );

    let (good, bad) = c.good_then_faulty(&spec, || split(&c), |s| u64::from(s.1));
    assert_eq!(
        good.last(),
        Some(&(100, 0, false)),
        "switched off at 0: {good:?}"
    );
    assert!(
        good.iter().filter(|s| s.1 > 0).all(|s| s.2),
        "on while weighted: {good:?}"
    );
    assert_eq!(bad.last(), Some(&(100, 0, false)), "{bad:?}");
}

#[test]
fn skipper_is_driven_and_a_b_is_not_its() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.yaml");
    let ab = SPEC.replace("METRICS", "http://prometheus:9090").replace(
        "    stepWeight: 20\n    maxWeight: 60\n",
        "    iterations: 3\n    match: [{headers: {x-canary: {exact: insider}}}]\n",
    );
    std::fs::write(&path, ab).unwrap();
    let r = cg(&["validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("does not drive"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ignored: provider skipper does not implement A/B testing"),
        "{}",
        r.stderr
    );
    // The providers whose meshes are gone say so, and where to go.
    for retired in ["appmesh", "osm"] {
        let spec = SPEC.replace("METRICS", "http://prometheus:9090");
        std::fs::write(
            &path,
            spec.replace("provider: skipper", &format!("provider: {retired}")),
        )
        .unwrap();
        let r = cg(&["validate", path.to_str().unwrap()]);
        assert!(
            r.stderr.contains("so canary-gate does not drive it; move the route to the Gateway API (provider: gatewayapi:v1)"),
            "{retired}: {}",
            r.stderr
        );
    }
}
