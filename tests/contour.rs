//! The Contour router end to end through the binary, on whichever back end the suite runs: the
//! user's root HTTPProxy including the one canary-gate owns, the simulator's Contour data plane
//! splitting by its service weights and exporting Envoy's cluster series, and a real Prometheus
//! that Flagger's Contour queries read. A good release is promoted through the weights (sampled
//! while `run` works), a faulty one rolled back by `request-success-rate`, and an A/B release
//! promoted with only the matching requests on the canary; the proxy carries Flagger's
//! timeout, retry and `l5d-dst-override` settings (and the real apiserver checks it against
//! Contour's CRD).

use crate::cluster::Cluster;
use crate::support::cg;
use serde_json::{Value, json};

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: contour
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service:
    port: 80
    targetPort: 9898
    timeout: 15s
    retries: {attempts: 3, perTryTimeout: 5s, retryOn: 5xx}
  analysis:
    interval: 2s
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: request-success-rate, interval: 10s, thresholdRange: {min: 99}}
      - {name: request-duration, interval: 10s, thresholdRange: {max: 500}}
";

const AB: &str = "    iterations: 3\n    match: [{headers: {x-canary: {exact: insider}}}]\n";

/// The fixture app with its NGINX Ingress silent, and a root HTTPProxy including `podinfo`.
fn app(c: &Cluster) {
    c.podinfo_behind_another_router();
    c.create(json!({
        "apiVersion": "projectcontour.io/v1",
        "kind": "HTTPProxy",
        "metadata": {"name": "podinfo-ingress", "namespace": "test",
            "annotations": {"canary-gate.dev/sim-rps": "200", "canary-gate.dev/sim-header-share": "0.5"}},
        "spec": {
            "virtualhost": {"fqdn": "app.example.com"},
            "includes": [{"name": "podinfo", "namespace": "test"}],
        },
    }));
}

/// `(primary, canary)` of each route of the owned HTTPProxy.
fn weights(c: &Cluster) -> Option<Vec<(u64, u64)>> {
    let proxy = c.find("projectcontour.io/v1", "HTTPProxy", "podinfo")?;
    let routes = proxy["spec"]["routes"].as_array()?;
    let w = |r: &Value, name: &str| {
        let s = r["services"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == name)?;
        Some(s["weight"].as_u64().unwrap_or(0))
    };
    routes
        .iter()
        .map(|r| Some((w(r, "podinfo-primary")?, w(r, "podinfo-canary")?)))
        .collect()
}

#[test]
fn contour_promotes_a_good_release_and_rolls_back_a_faulty_one() {
    let c = Cluster::new();
    app(&c);
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || weights(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let proxy = c.get("projectcontour.io/v1", "HTTPProxy", "podinfo");
    let route = &proxy["spec"]["routes"][0];
    assert_eq!(route["conditions"], json!([{"prefix": "/"}]));
    assert_eq!(
        route["timeoutPolicy"],
        json!({"response": "15s", "idle": "5m"})
    );
    assert_eq!(
        route["retryPolicy"],
        json!({"count": 3, "perTryTimeout": "5s", "retryOn": ["5xx"]})
    );
    assert_eq!(
        route["services"][1]["requestHeadersPolicy"]["set"][0],
        json!({"name": "l5d-dst-override", "value": "podinfo-canary.test.svc.cluster.local:80"})
    );
    assert!(
        proxy["spec"]["virtualhost"].is_null(),
        "included, not a root"
    );

    c.good_then_faulty(&spec, || weights(&c), |s| s[0].1);
}

#[test]
fn contour_a_b_sends_only_matching_requests_to_the_canary() {
    let c = Cluster::new();
    app(&c);
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC
        .replace("METRICS", &prom.url)
        .replace("    stepWeight: 20\n    maxWeight: 60\n", AB);
    let dir = tempfile::tempdir().unwrap();
    let r = c.init(&Cluster::spec_file(&dir, &spec), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    c.release("6.7.1", "0");
    let (r, seen) = c.run_sampling(&spec, || weights(&c));
    let out = format!("{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{out}");
    assert!(
        seen.contains(&vec![(0, 100), (100, 0)]),
        "the header route on the canary, the rest on the primary: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&vec![(100, 0), (100, 0)]), "{seen:?}");
    let proxy = c.get("projectcontour.io/v1", "HTTPProxy", "podinfo");
    assert_eq!(
        proxy["spec"]["routes"][0]["conditions"],
        json!([{"prefix": "/", "header": {"name": "x-canary", "exact": "insider"}}])
    );
    assert!(c.primary_image().ends_with(":6.7.1"));
    assert!(out.contains("request-success-rate = 100"), "{out}");
}

#[test]
fn contour_refuses_a_foreign_proxy_and_validate_knows_it() {
    let c = Cluster::new();
    app(&c);
    c.create(json!({
        "apiVersion": "projectcontour.io/v1",
        "kind": "HTTPProxy",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"routes": [{"services": [{"name": "podinfo", "port": 80}]}]},
    }));
    let before = c.get("projectcontour.io/v1", "HTTPProxy", "podinfo");
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    let dir = tempfile::tempdir().unwrap();
    c.init_refused(
        &spec,
        "httpproxy/podinfo in namespace test exists and is not managed by canary-gate",
    );
    let after = c.get("projectcontour.io/v1", "HTTPProxy", "podinfo");
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );

    let path = Cluster::spec_file(
        &dir,
        &spec.replace("    stepWeight: 20\n    maxWeight: 60\n", AB),
    );
    let r = cg(&["validate", &path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("does not drive"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("A/B"),
        "contour implements A/B: {}",
        r.stderr
    );
}
