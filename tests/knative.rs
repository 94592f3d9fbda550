//! The Knative router and workload end to end through the binary, on whichever back end the
//! suite runs: a Knative Service target whose Revisions the simulator's Knative stand-in creates
//! (a Deployment and a Service each, `Ready` with their pods), the primary named in
//! `flagger.app/primary-revision`, the split in the target's own `spec.traffic`, Kourier's Envoy
//! series per revision, and a real Prometheus that Flagger's Knative queries read with the
//! latest revision. A good revision is promoted through the weights (sampled while `run` works)
//! and a faulty one rolled back by `request-success-rate`, as in Flagger's e2e.

use crate::cluster::Cluster;
use crate::support::cg;
use serde_json::{Value, json};

const KSVC: &str = "serving.knative.dev/v1";

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: knative
  metricsServer: METRICS
  targetRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: podinfo}
  progressDeadlineSeconds: 60
  analysis:
    interval: 2s
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: request-success-rate, interval: 10s, thresholdRange: {min: 99}}
      - {name: request-duration, interval: 10s, thresholdRange: {max: 500}}
";

/// The Knative Service of Flagger's e2e (podinfo on 9898), at `tag`, failing `error_rate`.
fn template(tag: &str, error_rate: &str) -> Value {
    json!({
        "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": error_rate}},
        "spec": {"containers": [{
            "image": format!("ghcr.io/stefanprodan/podinfo:{tag}"),
            "ports": [{"containerPort": 9898}],
        }]},
    })
}

/// Waits for the stand-in to report `revision` as the latest created one.
fn wait_for_revision(c: &Cluster, revision: &str) {
    for _ in 0..600 {
        let latest = c.find(KSVC, "Service", "podinfo").and_then(|k| {
            k["status"]["latestCreatedRevisionName"]
                .as_str()
                .map(str::to_string)
        });
        if latest.as_deref() == Some(revision) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("revision {revision} was never created");
}

fn release(c: &Cluster, tag: &str, error_rate: &str, revision: &str) {
    let patch = json!({"spec": {"template": template(tag, error_rate)}});
    c.merge_patch(KSVC, "Service", "podinfo", &patch);
    wait_for_revision(c, revision);
}

/// The primary revision and the canary's percent.
fn split(c: &Cluster) -> Option<(String, u64)> {
    let k = c.find(KSVC, "Service", "podinfo")?;
    let primary = k["metadata"]["annotations"]["flagger.app/primary-revision"].as_str()?;
    let traffic = k["spec"]["traffic"].as_array()?;
    let canary = traffic.iter().find(|t| t["latestRevision"] == true)?;
    Some((primary.to_string(), canary["percent"].as_u64()?))
}

#[test]
fn knative_promotes_a_good_revision_and_rolls_back_a_faulty_one() {
    let c = Cluster::new();
    c.create(json!({
        "apiVersion": KSVC, "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": "test",
            "annotations": {"canary-gate.dev/sim-rps": "200"}},
        "spec": {"template": template("6.0.0", "0")},
    }));
    wait_for_revision(&c, "podinfo-00001");
    let Some(prom) = c.prometheus() else { return };
    let spec = SPEC.replace("METRICS", &prom.url);
    let (r, _) = c.run_sampling(&spec, || split(&c));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let k = c.get(KSVC, "Service", "podinfo");
    assert_eq!(
        k["metadata"]["annotations"]["flagger.app/primary-revision"],
        "podinfo-00001"
    );
    assert_eq!(
        k["spec"]["traffic"],
        json!([{"latestRevision": true, "percent": 0}, {"revisionName": "podinfo-00001", "percent": 100}])
    );
    assert!(
        c.find("apps/v1", "Deployment", "podinfo-primary").is_none(),
        "no copies"
    );
    assert!(
        c.find("v1", "Service", "podinfo-canary").is_none(),
        "no Services"
    );

    release(&c, "6.0.1", "0", "podinfo-00002");
    let (r, seen) = c.run_sampling(&spec, || split(&c));
    let out = format!("{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{out}");
    // Promotion names the new primary, then moves the traffic (as Flagger does).
    let mut weights: Vec<u64> = seen.iter().map(|s| s.1).collect();
    weights.dedup();
    assert_eq!(weights, [0, 20, 40, 60, 0], "{seen:?}\n{out}");
    assert_eq!(
        seen[seen.len() - 2],
        ("podinfo-00002".to_string(), 60),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(|s| s.0.as_str()),
        Some("podinfo-00002"),
        "{seen:?}"
    );
    assert!(out.contains("request-success-rate = 100"), "{out}");

    release(&c, "6.0.2", "0.5", "podinfo-00003");
    let (r, seen) = c.run_sampling(&spec, || split(&c));
    let out = format!("{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, 1, "{out}");
    assert!(
        out.contains("halt advancement: request-success-rate"),
        "{out}"
    );
    assert_eq!(
        seen.last(),
        Some(&("podinfo-00002".to_string(), 0)),
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| s.1 <= 40), "halted early: {seen:?}");
}

#[test]
fn knative_is_driven_only_with_a_knative_target() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    let r = cg(&["validate", &Cluster::spec_file(&dir, &spec)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("does not drive"), "{}", r.stderr);
    let deployment = spec.replace(
        "{apiVersion: serving.knative.dev/v1, kind: Service, name: podinfo}",
        "{apiVersion: apps/v1, kind: Deployment, name: podinfo}",
    );
    let r = cg(&["validate", &Cluster::spec_file(&dir, &deployment)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_missing_knative_service_is_refused_with_nothing_written() {
    let c = Cluster::new();
    let spec = SPEC.replace("METRICS", "http://prometheus:9090");
    c.init_refused(
        &spec,
        "service.serving.knative.dev/podinfo in namespace test (spec.targetRef) does not exist",
    );
}
