//! `canary-gate init` against the simulator over HTTP: reference §7 scenarios 1, 11, 12, 14, 18,
//! 19, 20, 27, config tracking, Service targets, idempotence, the lock, a never-ready primary and
//! credentials that never leak.

use crate::canary::canary;
use crate::cluster::{Cluster, canary_with};
use serde_json::{Value, json};

const SPEC: &str = "fixtures/k8s/canary.yaml";

fn labels(v: &Value) -> &Value {
    &v["metadata"]["labels"]
}

fn port_set(svc: &Value) -> Vec<(String, i64, Value)> {
    let mut p: Vec<(String, i64, Value)> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["port"].as_i64().unwrap(),
                p["targetPort"].clone(),
            )
        })
        .collect();
    p.sort_by_key(|a| a.1);
    p
}

#[test]
fn init_takes_over_a_serving_deployment() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    // Let the target serve first: traffic is flowing before the takeover.
    let statuses = || {
        c.sim
            .with_state(|s| s.dataplane.ingress_statuses("test", "podinfo"))
    };
    let serving = crate::support::poll(std::time::Duration::from_secs(5), || {
        let before = statuses();
        before.contains_key("200").then_some(before)
    })
    .expect("the target serves before init");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let errors_before = statuses().get("503").copied().unwrap_or(0);
    let _ = serving;
    let r = c.init(SPEC, &[]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("test/podinfo: initialized"),
        "{}",
        r.stdout
    );

    // State and lock.
    let state: Value = serde_json::from_str(
        c.get("v1", "ConfigMap", "canary-gate.podinfo")["data"]["state.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["phase"], "Initialized");
    assert_eq!(state["lastAppliedSpec"], state["lastPromotedSpec"]);
    assert_eq!(state["trackedConfigs"].as_object().unwrap().len(), 3);
    assert!(
        c.find("coordination.k8s.io/v1", "Lease", "canary-gate.podinfo")
            .is_none(),
        "the lock is released"
    );

    // Order: the apex selects the primary before the target is scaled to zero.
    let writes = c.writes();
    let apex_at = writes
        .iter()
        .position(|w| w == "PUT /api/v1/namespaces/test/services/podinfo")
        .expect("apex updated");
    let scale_at = writes
        .iter()
        .position(|w| w == "PATCH /apis/apps/v1/namespaces/test/deployments/podinfo")
        .expect("target scaled");
    let primary_at = writes
        .iter()
        .position(|w| w == "POST /apis/apps/v1/namespaces/test/deployments")
        .expect("primary created");
    assert!(primary_at < apex_at && apex_at < scale_at, "{writes:#?}");
    // No request saw a 503 during the takeover (nor after it, once the target's pods are gone).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = statuses();
    assert_eq!(
        after.get("503").copied().unwrap_or(0),
        errors_before,
        "no request may see a 503: {after:?}"
    );
    // An Event tells the story on the target.
    let events = c.sim.list("v1", "Event", "test");
    assert!(events.iter().any(|e| {
        e["involvedObject"]["name"] == "podinfo"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("Initialization done"))
    }));

    // A second init writes nothing but the lock.
    c.sim.clear_requests();
    let again = c.init(SPEC, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("already initialized"),
        "{}",
        again.stdout
    );
    let writes = c.writes();
    assert!(!writes.is_empty());
    assert!(
        writes.iter().all(|w| w.contains("/leases")),
        "only the Lease may be written: {writes:#?}"
    );
}

/// The fixture app after a successful `init`.
fn taken_over() -> Cluster {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let r = c.init(SPEC, &[]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    c
}

#[test]
fn init_creates_the_primary_deployment_from_the_target() {
    let c = taken_over();
    // 19: the primary Deployment (§3.2).
    let primary = c.get("apps/v1", "Deployment", "podinfo-primary");
    assert_eq!(
        primary["spec"]["selector"]["matchLabels"],
        json!({"app": "podinfo-primary"})
    );
    assert_eq!(primary["spec"]["replicas"], 2);
    assert_eq!(primary["spec"]["minReadySeconds"], 3);
    assert_eq!(primary["spec"]["revisionHistoryLimit"], 5);
    assert_eq!(primary["spec"]["progressDeadlineSeconds"], 60);
    let tmpl = &primary["spec"]["template"];
    assert_eq!(tmpl["metadata"]["labels"]["app"], "podinfo-primary");
    assert!(
        tmpl["metadata"]["annotations"]["canary-gate.dev/id"]
            .as_str()
            .is_some_and(|s| s.len() == 36)
    );
    assert_eq!(
        tmpl["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    assert_eq!(
        tmpl["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"]["labelSelector"]["matchLabels"]["app"],
        "podinfo-primary"
    );
    assert_eq!(labels(&primary)["app"], "podinfo-primary");
    assert!(
        labels(&primary).get("team").is_none(),
        "no labels copied without --include-label-prefix"
    );
    let annotations = &primary["metadata"]["annotations"];
    assert_eq!(annotations["app.kubernetes.io/instance"], "podinfo-prod");
    assert!(
        annotations
            .get("kustomize.toolkit.fluxcd.io/checksum")
            .is_none(),
        "Flux keys are dropped"
    );
    assert_eq!(annotations["canary-gate.dev/canary"], "test/podinfo");
}

#[test]
fn init_copies_the_tracked_configs_and_points_the_primary_at_them() {
    let c = taken_over();
    let primary = c.get("apps/v1", "Deployment", "podinfo-primary");
    let tmpl = &primary["spec"]["template"];
    // Config tracking: copies, re-pointed references.
    let pod = &tmpl["spec"];
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        "podinfo-config-primary"
    );
    assert_eq!(
        pod["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "podinfo-secret-primary"
    );
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"],
        "podinfo-files-primary"
    );
    assert_eq!(
        c.get("v1", "ConfigMap", "podinfo-config-primary")["data"],
        c.get("v1", "ConfigMap", "podinfo-config")["data"]
    );
    assert_eq!(
        c.get("v1", "ConfigMap", "podinfo-files-primary")["data"],
        c.get("v1", "ConfigMap", "podinfo-files")["data"]
    );
    let secret = c.get("v1", "Secret", "podinfo-secret-primary");
    assert_eq!(
        secret["data"],
        c.get("v1", "Secret", "podinfo-secret")["data"]
    );
    assert_eq!(secret["type"], "Opaque");
}

#[test]
fn init_creates_the_canary_and_primary_services_and_repoints_the_apex() {
    let c = taken_over();
    // 27 and §3.9: the canary and primary Services, port discovery with targetPort by number.
    let canary = c.get("v1", "Service", "podinfo-canary");
    assert_eq!(canary["spec"]["selector"], json!({"app": "podinfo"}));
    assert_eq!(labels(&canary)["app"], "podinfo-canary");
    assert_eq!(labels(&canary)["role"], "canary");
    let expected_ports = vec![
        ("http".to_string(), 80, json!(9898)),
        ("tcp-podinfo-2".to_string(), 8888, json!(8888)),
        ("http-metrics".to_string(), 8080, json!(8080)),
    ];
    let mut expected_sorted = expected_ports.clone();
    expected_sorted.sort_by_key(|a| a.1);
    assert_eq!(port_set(&canary), expected_sorted);
    let primary_svc = c.get("v1", "Service", "podinfo-primary");
    assert_eq!(
        primary_svc["spec"]["selector"],
        json!({"app": "podinfo-primary"})
    );
    assert_eq!(port_set(&primary_svc), expected_sorted);

    // 11: the user's apex Service gets only selector and ports.
    let apex = c.get("v1", "Service", "podinfo");
    assert_eq!(apex["spec"]["selector"], json!({"app": "podinfo-primary"}));
    assert_eq!(port_set(&apex), expected_sorted);
    assert_eq!(
        labels(&apex),
        &json!({"app": "podinfo", "owner": "platform"})
    );
    assert_eq!(
        apex["metadata"]["annotations"],
        json!({"docs": "https://example.com/podinfo"})
    );
}

#[test]
fn init_copies_the_hpa_for_the_primary() {
    let c = taken_over();
    // 14: the HPA copy.
    let hpa = c.get(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "podinfo-primary",
    );
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "podinfo-primary");
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].as_i64(),
            hpa["spec"]["maxReplicas"].as_i64()
        ),
        (Some(3), Some(6))
    );
}

#[test]
fn init_scales_the_target_to_zero_and_creates_the_canary_ingress_at_weight_zero() {
    let c = taken_over();
    // 20: the target is at zero; §4.1: the canary Ingress at weight 0.
    assert_eq!(
        c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
    let ing = c.get("networking.k8s.io/v1", "Ingress", "podinfo-canary");
    assert_eq!(
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"],
        "true"
    );
    assert_eq!(
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "0"
    );
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "podinfo-canary"
    );
}

#[test]
fn include_label_prefix_copies_labels_and_a_created_apex_gets_its_metadata() {
    let c = Cluster::new();
    // No pre-existing apex Service: canary-gate creates it (scenario 18).
    c.podinfo(|o| {
        if o["kind"] == "Service" {
            o["metadata"]["name"] = json!("podinfo-old");
        }
        if o["kind"] == "Ingress" {
            o["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] =
                json!("podinfo");
        }
    });
    let r = c.init(SPEC, &["--include-label-prefix", "app.kubernetes.io"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 12: the target's app.kubernetes.io/* labels are on the primary.
    let primary = c.get("apps/v1", "Deployment", "podinfo-primary");
    assert_eq!(labels(&primary)["app.kubernetes.io/name"], "podinfo");
    assert_eq!(labels(&primary)["app.kubernetes.io/part-of"], "shop");
    assert!(labels(&primary).get("team").is_none());
    // 18: apex metadata and selector.
    let apex = c.get("v1", "Service", "podinfo");
    assert_eq!(apex["spec"]["selector"], json!({"app": "podinfo-primary"}));
    assert_eq!(labels(&apex)["tier"], "frontend");
    assert_eq!(labels(&apex)["app"], "podinfo");
    assert_eq!(apex["metadata"]["annotations"]["apex"], "yes");
}

#[test]
fn port_discovery_with_a_named_target_port() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let spec = Cluster::spec_file(&dir, &canary_with("targetPort: 9898", "targetPort: http"));
    let r = c.init(&spec, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let canary = c.get("v1", "Service", "podinfo-canary");
    assert_eq!(
        port_set(&canary),
        vec![
            ("http".into(), 80, json!("http")),
            ("http-metrics".into(), 8080, json!(8080)),
            ("tcp-podinfo-2".into(), 8888, json!(8888))
        ]
    );
}

#[test]
fn a_never_ready_primary_fails_init_without_an_outage() {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "Deployment" {
            // The shortest deadline the API accepts: it must exceed minReadySeconds (3).
            o["spec"]["progressDeadlineSeconds"] = json!(4);
            o["spec"]["template"]["metadata"]["annotations"]["canary-gate.dev/sim-ready"] =
                json!("false");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let spec = Cluster::spec_file(
        &dir,
        &canary_with("progressDeadlineSeconds: 60", "progressDeadlineSeconds: 30"),
    );
    let r = c.init(&spec, &[]);
    assert_eq!(r.code, 3, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("ProgressDeadlineExceeded"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("podinfo-primary"), "{}", r.stderr);
    let apex = c.get("v1", "Service", "podinfo");
    assert_eq!(
        apex["spec"]["selector"],
        json!({"app": "podinfo"}),
        "the apex still selects the target"
    );
    assert_eq!(
        c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        2,
        "the target keeps its replicas"
    );
    assert!(
        c.find("v1", "ConfigMap", "canary-gate.podinfo").is_none(),
        "not initialized"
    );
    assert!(
        c.find("coordination.k8s.io/v1", "Lease", "canary-gate.podinfo")
            .is_none(),
        "the lock is released"
    );
}

#[test]
fn a_held_lock_makes_init_wait_then_name_the_holder() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let now = canary_gate_sim_now();
    c.create(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "canary-gate.podinfo", "namespace": "test"},
        "spec": {"holderIdentity": "https://github.com/o/r/actions/runs/7", "leaseDurationSeconds": 30,
                 "acquireTime": now, "renewTime": now}
    }));
    let r = c.init(SPEC, &["--lock-timeout", "1s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("being driven by https://github.com/o/r/actions/runs/7"),
        "{}",
        r.stderr
    );
    assert!(
        c.find("apps/v1", "Deployment", "podinfo-primary").is_none(),
        "nothing was done without the lock"
    );
}

fn canary_gate_sim_now() -> String {
    canary_gate_sim_at(0)
}

/// A MicroTime (RFC 3339 with microseconds) `seconds_ago` seconds in the past.
fn canary_gate_sim_at(seconds_ago: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - seconds_ago;
    let t = k8s_openapi::jiff::Timestamp::from_second(secs as i64).unwrap();
    format!("{}", t.strftime("%Y-%m-%dT%H:%M:%S.000000Z"))
}

#[test]
fn an_expired_lock_is_taken_over() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let long_ago = canary_gate_sim_at(120);
    c.create(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "canary-gate.podinfo", "namespace": "test"},
        "spec": {"holderIdentity": "a-runner-that-died", "leaseDurationSeconds": 30,
                 "acquireTime": long_ago, "renewTime": long_ago}
    }));
    let r = c.init(SPEC, &["--lock-timeout", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(": initialized"), "{}", r.stdout);
}

#[test]
fn two_inits_at_once_one_drives_the_other_finds_it_done() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let spawn = || {
        crate::support::canary_gate()
            .args(["init", "--canary", SPEC, "--kubeconfig"])
            .arg(&c.sim.kubeconfig)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(
        (a.status.code(), b.status.code()),
        (Some(0), Some(0)),
        "{a:?}\n{b:?}"
    );
    let outs = [
        String::from_utf8_lossy(&a.stdout).into_owned(),
        String::from_utf8_lossy(&b.stdout).into_owned(),
    ];
    assert_eq!(
        outs.iter().filter(|o| o.contains(": initialized")).count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        outs.iter()
            .filter(|o| o.contains("already initialized"))
            .count(),
        1,
        "{outs:?}"
    );
    let creates = c
        .writes()
        .iter()
        .filter(|w| *w == "POST /apis/apps/v1/namespaces/test/deployments")
        .count();
    assert_eq!(creates, 1, "the primary was created once");
}

#[test]
fn a_service_target_gets_a_tracking_canary_and_a_primary_created_once() {
    let c = Cluster::new();
    c.create(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "backend", "namespace": "test", "labels": {"app": "backend"},
                                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                    "spec": {"selector": {"app": "backend"}, "ports": [{"name": "http", "port": 8080}]}}));
    let dir = tempfile::tempdir().unwrap();
    let spec = Cluster::spec_file(
        &dir,
        &canary("backend")
            .kubernetes()
            .service_target()
            .service("{port: 8080}")
            .interval("10s")
            .threshold(2)
            .iterations(2)
            .yaml(),
    );
    let r = c.init(&spec, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let canary = c.get("v1", "Service", "backend-canary");
    let primary = c.get("v1", "Service", "backend-primary");
    for s in [&canary, &primary] {
        assert_eq!(s["spec"]["selector"], json!({"app": "backend"}));
        assert_eq!(s["spec"]["ports"][0]["port"], 8080);
        assert!(
            s["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
    }
    assert_eq!(canary["metadata"]["labels"]["app"], "backend");
    // The target changes: the canary follows (its labels replaced, not merged), the primary
    // does not.
    c.merge_patch(
        "v1",
        "Service",
        "backend",
        &json!({"metadata": {"labels": {"app": null, "tier": "api"}},
                "spec": {"ports": [{"name": "http", "port": 9090}]}}),
    );
    let r = c.init(&spec, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let canary = c.get("v1", "Service", "backend-canary");
    assert_eq!(canary["spec"]["ports"][0]["port"], 9090);
    assert_eq!(canary["metadata"]["labels"]["tier"], "api");
    assert!(
        canary["metadata"]["labels"].get("app").is_none(),
        "a label gone from the target is gone from its copy: {canary:#}"
    );
    assert_eq!(
        c.get("v1", "Service", "backend-primary")["spec"]["ports"][0]["port"],
        8080
    );
}

#[test]
fn a_missing_target_is_invalid_input_and_nothing_is_written() {
    let c = Cluster::new();
    c.sim.clear_requests();
    let r = c.init(SPEC, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("deployment/podinfo (spec.targetRef) does not exist in namespace test"),
        "{}",
        r.stderr
    );
    let writes: Vec<String> = c
        .writes()
        .into_iter()
        .filter(|w| !w.contains("/leases"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
