//! The Kuma router end to end through the binary, on whichever back end the suite runs: the
//! cluster-scoped TrafficRoute canary-gate owns (in the mesh the Canary's `kuma.io/mesh`
//! annotation names), the simulator's Kuma data plane splitting by its weights and exporting the
//! destination proxies' Envoy series, and a real Prometheus that Flagger's Kuma queries read. A
//! good release is promoted through the weights (sampled while `run` works), a faulty one rolled
//! back by `request-success-rate`; a TrafficRoute of that name written by someone else is refused
//! with nothing written.

use crate::cluster::Cluster;
use serde_json::{Value, json};

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
  annotations: {kuma.io/mesh: mesh-a}
spec:
  provider: kuma
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service:
    port: 9898
    targetPort: 9898
    apex:
      annotations: {canary-gate.dev/sim-rps: \"200\"}
  analysis:
    interval: 2s
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: request-success-rate, interval: 10s, thresholdRange: {min: 99}}
      - {name: request-duration, interval: 10s, thresholdRange: {max: 500}}
";

fn route(c: &Cluster, name: &str) -> Option<Value> {
    c.sim.get("kuma.io/v1alpha1", "TrafficRoute", "", name)
}

/// `(primary, canary)` weights of the TrafficRoute.
fn weights(c: &Cluster) -> Option<(u64, u64)> {
    let r = route(c, "podinfo")?;
    let split = r["spec"]["conf"]["split"].as_array()?.clone();
    let w = |tag: &str| {
        let s = split
            .iter()
            .find(|s| s["destination"]["kuma.io/service"] == tag)?;
        s["weight"].as_u64()
    };
    Some((
        w("podinfo-primary_test_svc_9898")?,
        w("podinfo-canary_test_svc_9898")?,
    ))
}

#[test]
fn kuma_promotes_a_good_release_rolls_back_a_faulty_one_and_refuses_a_foreign_route() {
    let c = Cluster::new();
    c.podinfo_behind_another_router();
    // Someone else's TrafficRoute named after an apex: refused before anything is written.
    c.create(
        json!({"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficRoute",
        "metadata": {"name": "kuma-theirs"}, "mesh": "default",
        "spec": {"destinations": [{"match": {"kuma.io/service": "x_test_svc_80"}}]}}),
    );
    let theirs = SPEC.replace("METRICS", "http://prometheus:9090").replace(
        "    port: 9898\n",
        "    name: kuma-theirs\n    port: 9898\n",
    );
    c.init_refused(
        &theirs,
        "trafficroute/kuma-theirs (cluster-scoped) exists and is not managed by this canary",
    );

    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || weights(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let tr = route(&c, "podinfo").expect("the TrafficRoute");
    assert!(
        tr["metadata"]["namespace"].is_null(),
        "cluster-scoped: {tr}"
    );
    assert_eq!(tr["mesh"], "mesh-a");
    assert_eq!(
        tr["spec"]["sources"],
        json!([{"match": {"kuma.io/service": "*"}}])
    );
    assert_eq!(
        tr["spec"]["destinations"],
        json!([{"match": {"kuma.io/service": "podinfo_test_svc_9898"}}])
    );
    c.good_then_faulty(&spec, || weights(&c), |s| s.1);
}

#[test]
fn kuma_is_driven_and_a_b_is_not_its() {
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    crate::cluster::validate_ignores_ab(&spec, "kuma");
}

/// `plan` shows each router's own objects as diffs, and writes nothing (Kuma's cluster-scoped
/// TrafficRoute included).
#[test]
fn plan_shows_each_routers_objects_and_writes_nothing() {
    let c = Cluster::new();
    c.podinfo_behind_another_router();
    c.create(
        json!({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"http": [{"name": "all", "match": {"paths": ["/*"]},
            "backends": [{"serviceName": "podinfo", "servicePort": 80}]}]}}),
    );
    let dir = tempfile::tempdir().unwrap();
    let base = SPEC.replace("METRICS", "http://127.0.0.1:9");
    for (provider, objects) in [
        ("kuma", &["trafficroute/podinfo"][..]),
        ("contour", &["httpproxy/podinfo"][..]),
        ("traefik", &["traefikservice/podinfo"][..]),
        ("apisix", &["apisixroute/podinfo-podinfo-canary"][..]),
        (
            "gloo",
            &[
                "upstream/test-podinfo-primaryupstream-9898",
                "upstream/test-podinfo-canaryupstream-9898",
                "routetable/podinfo",
            ][..],
        ),
    ] {
        let spec = base.replace("provider: kuma", &format!("provider: {provider}")).replace(
            "  progressDeadlineSeconds",
            "  routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: podinfo}\n  progressDeadlineSeconds",
        );
        let file = Cluster::spec_file(&dir, &spec);
        let writes = c.writes().len();
        let plan = c.canary_gate(&["plan", "--canary", &file]);
        assert_eq!(plan.code, 0, "{provider}: {}\n{}", plan.stdout, plan.stderr);
        for o in objects {
            assert!(
                plan.stdout.contains(o),
                "{provider}: {o} in:\n{}",
                plan.stdout
            );
        }
        assert_eq!(c.writes().len(), writes, "{provider}: plan writes nothing");
    }
}
