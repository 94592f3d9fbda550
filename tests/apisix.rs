//! The APISIX router end to end through the binary, on whichever back end the suite runs: the
//! user's ApisixRoute, the `<route>-<apex>-canary` copy canary-gate makes (priority 10000, so it
//! takes the route's requests), the simulator's APISIX data plane splitting by the copy's backend
//! weights and exporting the prometheus plugin's series, and a real Prometheus that Flagger's
//! APISIX queries read. A good release is promoted through the weights (sampled while `run`
//! works), a faulty one rolled back by `request-success-rate`; routes it cannot copy are refused
//! with nothing written.

use crate::cluster::Cluster;
use crate::support::cg;
use serde_json::{Value, json};

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: apisix
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: podinfo}
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

const COPY: &str = "podinfo-podinfo-canary";

/// The user's ApisixRoute, as in Flagger's e2e: one entry `method` to the apex Service.
fn route(backends: Value) -> Value {
    json!({
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {"name": "podinfo", "namespace": "test", "labels": {"team": "web"},
            "annotations": {"canary-gate.dev/sim-rps": "200"}},
        "spec": {"http": [{
            "name": "method",
            "match": {"hosts": ["app.example.com"], "methods": ["GET"], "paths": ["/*"]},
            "backends": backends,
            "plugins": [{"name": "prometheus", "enable": true,
                "config": {"disable": false, "prefer_name": true}}],
        }]},
    })
}

/// `(primary, canary)` weights of the copy's backends.
fn weights(c: &Cluster) -> Option<(u64, u64)> {
    let copy = c.find("apisix.apache.org/v2", "ApisixRoute", COPY)?;
    let backends = copy["spec"]["http"][0]["backends"].as_array()?.clone();
    let w = |name: &str| {
        let b = backends.iter().find(|b| b["serviceName"] == name)?;
        b["weight"].as_u64()
    };
    Some((w("podinfo-primary")?, w("podinfo-canary")?))
}

#[test]
fn apisix_promotes_a_good_release_and_rolls_back_a_faulty_one() {
    let c = Cluster::new();
    c.podinfo_behind_another_router();
    c.create(route(
        json!([{"serviceName": "podinfo", "servicePort": 80}]),
    ));
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || weights(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let copy = c.get("apisix.apache.org/v2", "ApisixRoute", COPY);
    let entry = &copy["spec"]["http"][0];
    assert_eq!(entry["priority"], 10000);
    assert_eq!(entry["name"], "method");
    assert_eq!(entry["plugins"][0]["config"]["prefer_name"], true);
    assert_eq!(
        copy["metadata"]["labels"]["team"], "web",
        "the route's labels"
    );
    let original = c.get("apisix.apache.org/v2", "ApisixRoute", "podinfo");
    assert_eq!(
        original["spec"]["http"][0]["backends"][0]["serviceName"], "podinfo",
        "the user's route is left alone"
    );

    c.good_then_faulty(&spec, || weights(&c), |s| s.1);
}

#[test]
fn apisix_refuses_routes_it_cannot_copy_and_validate_knows_it() {
    let c = Cluster::new();
    c.podinfo_behind_another_router();
    let dir = tempfile::tempdir().unwrap();
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    let missing = spec.replace("name: podinfo}\n  progress", "name: nope}\n  progress");
    let why = "apisixroute/nope in namespace test (spec.routeRef) does not exist";
    c.init_refused(&missing, why);
    c.create(route(json!([
        {"serviceName": "podinfo", "servicePort": 80},
        {"serviceName": "other", "servicePort": 80},
    ])));
    let why = "apisixroute/podinfo: spec.http entry \"method\" has more than one backend";
    c.init_refused(&spec, why);
    assert!(
        c.find("apisix.apache.org/v2", "ApisixRoute", COPY)
            .is_none()
    );

    crate::cluster::validate_ignores_ab(&spec, "apisix");
    let r = cg(&["validate", &Cluster::spec_file(&dir, &spec.replace("  routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: podinfo}\n", ""))]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("spec.routeRef: required by provider apisix"),
        "{}",
        r.stderr
    );
}
