//! The Gloo Edge router end to end through the binary, on whichever back end the suite runs: the
//! two Upstreams (with `spec.upstreamRef`'s settings copied from another namespace) and the
//! RouteTable canary-gate owns, the simulator's Gloo data plane (the RouteTable taking the
//! requests a VirtualService would delegate) exporting Envoy's cluster series, and a real
//! Prometheus that Flagger's Gloo queries read. A good release is promoted through the weights
//! (sampled while `run` works), a faulty one rolled back by `request-success-rate`, an A/B
//! release promoted with only the matching requests on the canary; a missing `upstreamRef` is
//! refused with nothing written.

use crate::cluster::Cluster;
use crate::support::cg;
use serde_json::{Value, json};

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: gloo
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  upstreamRef: {apiVersion: gloo.solo.io/v1, kind: Upstream, name: config-upstream, namespace: gloo-system}
  progressDeadlineSeconds: 60
  service:
    port: 80
    targetPort: 9898
    apex:
      annotations: {canary-gate.dev/sim-rps: \"200\", canary-gate.dev/sim-header-share: \"0.5\"}
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
const STEPS: &str = "    stepWeight: 20\n    maxWeight: 60\n";

/// The fixture app and, as in Flagger's e2e, a config Upstream in `gloo-system`.
fn app(c: &Cluster) {
    c.podinfo_behind_another_router();
    c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gloo-system"}}));
    c.create(json!({
        "apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
        "metadata": {"name": "config-upstream", "namespace": "gloo-system"},
        "spec": {
            "static": {"hosts": [{"addr": "example.com", "port": 80}]},
            "connectionConfig": {"maxRequestsPerConnection": 51},
            "loadBalancerConfig": {"roundRobin": {"slowStartConfig": {"slowStartWindow": "10s", "aggression": 1.1, "minWeightPercent": 10}}},
        },
    }));
}

/// `(primary, canary)` weights of the RouteTable's route.
fn weights(c: &Cluster) -> Option<(u64, u64)> {
    let table = c.find("gateway.solo.io/v1", "RouteTable", "podinfo")?;
    let dests = table["spec"]["routes"][0]["routeAction"]["multi"]["destinations"]
        .as_array()?
        .clone();
    let w = |which: &str| {
        let name = format!("test-podinfo-{which}upstream-80");
        let d = dests
            .iter()
            .find(|d| d["destination"]["upstream"]["name"] == name.as_str())?;
        Some(d["weight"].as_u64().unwrap_or(0))
    };
    Some((w("primary")?, w("canary")?))
}

fn upstream(c: &Cluster, which: &str) -> Value {
    c.get(
        "gloo.solo.io/v1",
        "Upstream",
        &format!("test-podinfo-{which}upstream-80"),
    )
}

#[test]
fn gloo_promotes_a_good_release_and_rolls_back_a_faulty_one() {
    let c = Cluster::new();
    app(&c);
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || weights(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for which in ["primary", "canary"] {
        let spec = &upstream(&c, which)["spec"];
        assert_eq!(
            spec["kube"],
            json!({"serviceName": format!("podinfo-{which}"), "serviceNamespace": "test", "servicePort": 80})
        );
        assert_eq!(spec["connectionConfig"]["maxRequestsPerConnection"], 51);
        assert_eq!(
            spec["loadBalancerConfig"]["roundRobin"]["slowStartConfig"]["minWeightPercent"],
            10
        );
        assert!(spec["static"].is_null(), "only Flagger's list is copied");
    }
    let table = c.get("gateway.solo.io/v1", "RouteTable", "podinfo");
    assert_eq!(table["spec"]["routes"][0]["inheritablePathMatchers"], true);
    assert!(table["spec"]["routes"][0]["matchers"].is_null());
    c.good_then_faulty(&spec, || weights(&c), |s| s.1);
}

#[test]
fn gloo_a_b_sends_only_matching_requests_to_the_canary() {
    let c = Cluster::new();
    app(&c);
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url).replace(STEPS, AB);
    let dir = tempfile::tempdir().unwrap();
    let r = c.init(&Cluster::spec_file(&dir, &spec), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    c.release("6.7.1", "0");
    let (r, seen) = c.run_sampling(&spec, || weights(&c));
    let out = format!("{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{out}");
    assert!(
        seen.contains(&(0, 100)),
        "the matching requests on the canary: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&(100, 0)), "{seen:?}");
    let table = c.get("gateway.solo.io/v1", "RouteTable", "podinfo");
    assert_eq!(
        table["spec"]["routes"][0]["matchers"],
        json!([{"headers": [{"name": "x-canary", "value": "insider"}]}])
    );
    assert!(c.primary_image().ends_with(":6.7.1"));
    assert!(out.contains("request-success-rate = 100"), "{out}");
}

#[test]
fn gloo_refuses_a_missing_upstream_ref_and_validate_knows_it() {
    let c = Cluster::new();
    c.podinfo_behind_another_router();
    let dir = tempfile::tempdir().unwrap();
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    c.init_refused(
        &spec,
        "upstream/config-upstream in namespace gloo-system (spec.upstreamRef) does not exist",
    );

    let r = cg(&[
        "validate",
        &Cluster::spec_file(&dir, &spec.replace(STEPS, AB)),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("does not drive"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("A/B"),
        "gloo implements A/B: {}",
        r.stderr
    );
}
