//! The rollout commands against the simulator: `run`, `step` across processes, gates with a local
//! webhook receiver, `promote`, `rollback`, `status`, cancellation, A/B annotations.

use crate::canary::canary;
use crate::cluster::{Cluster, Lab};
use crate::hooks::Hooks;
use crate::support::{canary_gate, poll};
use serde_json::{Value, json};
use std::time::Duration;

const IMAGE: &str = "podinfo=ghcr.io/stefanprodan/podinfo:6.7.1";

fn spec(analysis: &str) -> String {
    canary("podinfo").nginx().analysis_lines(analysis).yaml()
}

const STEPS_20_60: &str =
    "    interval: 1s\n    threshold: 2\n    stepWeight: 20\n    maxWeight: 60\n";

/// The fixture app (its HPA renamed away), initialized with these `analysis` lines.
fn env(analysis: &str) -> Lab {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let lab = Lab::new(c, &spec(analysis));
    lab.init();
    lab
}

impl Lab {
    fn set_image(&self, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": image}]}}}});
        self.c.patch_deployment("podinfo", &patch);
    }

    fn image(&self, name: &str) -> String {
        self.c.get("apps/v1", "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string()
    }
}

#[test]
fn run_walks_the_weights_then_promotes() {
    let e = env(STEPS_20_60);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if e.c
                    .find("networking.k8s.io/v1", "Ingress", "podinfo-canary")
                    .is_some()
                {
                    let w = e.c.nginx_weight();
                    let mut s = seen.lock().unwrap();
                    if s.last() != Some(&w) {
                        s.push(w);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = e.cmd(&["run", "--image", IMAGE]);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    });
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(*seen.lock().unwrap(), vec![0, 20, 40, 60, 0]);
    assert_eq!(
        e.image("podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.7.1"
    );
    assert_eq!(
        e.c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
    assert_eq!(e.state()["phase"], "Succeeded");
    assert!(r.stdout.contains("Promotion completed!"), "{}", r.stdout);
    // Promotion replaces the primary's annotations with those --include-label-prefix admits
    // (none here), as Flagger's does; the target's `app.kubernetes.io/instance` was copied at
    // creation only (found by running Flagger side by side).
    let primary = e.c.get("apps/v1", "Deployment", "podinfo-primary");
    let annotations = primary["metadata"]["annotations"].as_object().unwrap();
    let mut keys: Vec<&String> = annotations.keys().collect();
    // The deployment controller's own bookkeeping (a real apiserver's sets it).
    keys.retain(|k| *k != "deployment.kubernetes.io/revision");
    assert_eq!(keys, ["canary-gate.dev/canary"], "{annotations:?}");
    let weights: Vec<u64> = e.state()["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["weight"].as_u64().unwrap())
        .collect();
    for w in [20, 40, 60] {
        assert!(weights.contains(&w), "history weights {weights:?}");
    }
    // Nothing more to do afterwards.
    let again = e.cmd(&["run"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
}

#[test]
fn step_in_separate_processes_reaches_the_same_end() {
    let e = env(STEPS_20_60);
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let mut weights = Vec::new();
    for _ in 0..20 {
        let r = e.cmd(&["step"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        weights.push(e.weight());
        if e.state()["phase"] == "Succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(600));
    }
    assert_eq!(e.state()["phase"], "Succeeded", "{weights:?}");
    weights.dedup();
    assert_eq!(weights, vec![0, 20, 40, 60, 0]);
    assert_eq!(
        e.image("podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.7.1"
    );
    assert_eq!(
        e.c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
}

#[test]
fn a_spec_change_mid_rollout_is_reconciled_at_the_next_tick_and_a_steady_tick_touches_no_service() {
    let e = env(STEPS_20_60);
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let services = |from: usize| -> Vec<String> {
        e.c.sim.requests()[from..]
            .iter()
            .filter(|r| r.path.contains("/services"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    };
    // The first tick of a new revision reconciles once; the next ones touch no Service.
    let step_to = |w: u32| {
        for _ in 0..20 {
            if e.weight() == w {
                return;
            }
            assert_eq!(e.cmd(&["step"]).code, 0);
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("weight {w} not reached: {}", e.weight());
    };
    step_to(20);
    let before = e.c.sim.requests().len();
    assert_eq!(e.cmd(&["step"]).code, 0);
    assert_eq!(e.weight(), 40);
    assert_eq!(services(before), Vec::<String>::new(), "a steady tick");
    // The spec's portName changes between two steps: the next tick renames the ports.
    let text = std::fs::read_to_string(&e.spec).unwrap();
    let renamed = text.replace(
        "service: {port: 80, targetPort: 9898}",
        "service: {port: 80, targetPort: 9898, portName: web}",
    );
    assert_ne!(text, renamed);
    std::fs::write(&e.spec, renamed).unwrap();
    let before = e.c.sim.requests().len();
    let r = e.cmd(&["step"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(e.weight(), 60, "the rollout goes on");
    for name in ["podinfo", "podinfo-primary", "podinfo-canary"] {
        let svc = e.c.get("v1", "Service", name);
        assert_eq!(svc["spec"]["ports"][0]["name"], "web", "{name}");
    }
    assert!(!services(before).is_empty());
    let before = e.c.sim.requests().len();
    assert_eq!(e.cmd(&["step"]).code, 0);
    assert_eq!(services(before), Vec::<String>::new(), "steady again");
}

#[test]
fn a_closed_promotion_gate_waits_status_says_so_and_promote_finishes() {
    let hooks = Hooks::start();
    hooks.answer("/gate/halt", 403);
    let e = env(&format!(
        "{STEPS_20_60}    webhooks:\n      - name: approval\n        type: confirm-promotion\n        url: {}/gate/halt\n",
        hooks.url
    ));
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let r = e.cmd(&["step", "--until-weight", "100"]);
    assert_eq!(r.code, 4, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(e.state()["phase"], "WaitingPromotion");
    assert_eq!(e.weight(), 60, "held at the last step");
    let s = e.cmd(&["status"]);
    assert_eq!(s.code, 4);
    assert!(
        s.stdout.contains("waiting-promotion, canary weight 60%"),
        "{}",
        s.stdout
    );
    let j = e.cmd(&["status", "-o", "json"]);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert_eq!(v["phase"], "waiting-promotion");
    let p = e.cmd(&["promote"]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    assert_eq!(e.state()["phase"], "Succeeded");
    assert_eq!(
        e.image("podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.7.1"
    );
    assert_eq!(e.weight(), 0);
    let body = &hooks.bodies("/gate/halt")[0];
    assert_eq!(body["name"], "podinfo");
    assert_eq!(body["namespace"], "test");
    assert_eq!(body["phase"], "Progressing");
    assert!(body["checksum"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn webhook_gates_rollbacks_events_and_post_rollout() {
    let hooks = Hooks::start();
    let u = &hooks.url;
    hooks.answer("/confirm", 203);
    let e = env(&format!(
        "{STEPS_20_60}    webhooks:\n      - {{name: confirm, type: confirm-rollout, url: '{u}/confirm'}}\n      - {{name: load, url: '{u}/load', metadata: {{cmd: 'hey -z 1m http://podinfo-canary'}}}}\n      - {{name: back, type: rollback, url: '{u}/rollback'}}\n      - {{name: events, type: event, url: '{u}/events'}}\n      - {{name: after, type: post-rollout, url: '{u}/post'}}\n"
    ));
    hooks.answer("/rollback", 404);
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    // A 203 is closed: Waiting, and the target is not scaled up.
    let r = e.cmd(&["step"]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert_eq!(e.state()["phase"], "Waiting");
    assert_eq!(
        e.c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
    // Open it; a rollout hook that fails `threshold` times rolls back.
    hooks.answer("/confirm", 200);
    hooks.answer("/load", 500);
    let r = e.cmd(&["run"]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(e.state()["phase"], "Failed");
    assert!(
        r.stdout.contains("failed checks threshold reached 2"),
        "{}",
        r.stdout
    );
    assert_eq!(
        hooks.bodies("/load")[0]["metadata"]["cmd"],
        "hey -z 1m http://podinfo-canary"
    );
    let post: Vec<String> = hooks
        .bodies("/post")
        .iter()
        .map(|b| b["phase"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(post, vec!["Failed"]);
    // Event hooks saw every note with Flagger's payload.
    let events = hooks.bodies("/events");
    assert!(events.len() >= 4, "{events:?}");
    for ev in &events {
        assert_eq!(ev["name"], "podinfo");
        assert!(
            ev["metadata"]["eventMessage"].is_string() && ev["metadata"]["timestamp"].is_string()
        );
        assert!(matches!(
            ev["metadata"]["eventType"].as_str(),
            Some("Normal" | "Warning")
        ));
    }
    assert!(events.iter().any(|ev| {
        ev["metadata"]["eventMessage"]
            .as_str()
            .unwrap()
            .starts_with("New revision detected")
    }));
    // A new revision with a rollback hook answering 200: rolled back at once.
    hooks.answer("/load", 200);
    hooks.answer("/rollback", 200);
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.2");
    let r = e.cmd(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("a rollback webhook was invoked"),
        "{}",
        r.stdout
    );
    // And a clean release: post-rollout after success too.
    hooks.answer("/rollback", 404);
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.3");
    let r = e.cmd(&["run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let post: Vec<String> = hooks
        .bodies("/post")
        .iter()
        .map(|b| b["phase"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(post, vec!["Failed", "Failed", "Succeeded"]);
}

#[test]
fn rollback_mid_analysis() {
    let e = env("    interval: 1s\n    threshold: 2\n    stepWeight: 10\n");
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    // Steps until the canary is ready and takes its first 10 %.
    poll(Duration::from_secs(60), || {
        assert_eq!(e.cmd(&["step"]).code, 0);
        (e.weight() == 10).then_some(())
    })
    .expect("the first step is taken");
    let r = e.cmd(&["rollback"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(e.weight(), 0);
    assert_eq!(
        e.c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
    assert_eq!(e.state()["phase"], "Failed");
    assert_eq!(
        e.image("podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.7.0"
    );
}

#[test]
fn sigterm_mid_run_routes_to_the_primary_and_a_later_run_restarts() {
    let e = env("    interval: 1s\n    threshold: 2\n    stepWeight: 10\n");
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let mut child = canary_gate()
        .args(["run", "--canary", &e.spec, "--kubeconfig"])
        .arg(&e.c.sim.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    poll(Duration::from_secs(20), || (e.weight() >= 20).then_some(()))
        .expect("the run reaches 20%");
    let sent = std::time::Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status =
        poll(Duration::from_secs(5), || child.try_wait().unwrap()).expect("exits within 5 s");
    assert_eq!(status.code(), Some(1));
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert_eq!(e.weight(), 0);
    let state = e.state();
    assert_eq!(
        (state["phase"].as_str(), state["message"].as_str()),
        (Some("Failed"), Some("cancelled"))
    );
    assert!(
        e.c.find("coordination.k8s.io/v1", "Lease", "canary-gate.podinfo")
            .is_none(),
        "the lock is released"
    );
    // The same revision is analysed again from the start.
    let r = e.cmd(&["step"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("New revision detected"), "{}", r.stdout);
    assert_eq!(e.state()["phase"], "Progressing");
}

#[test]
fn ab_testing_sets_header_and_cookie_rules_only_during_iterations() {
    let e = env(
        "    interval: 1s\n    threshold: 2\n    iterations: 2\n    match:\n      - headers: {x-user: {exact: insider}}\n      - headers: {cookie: {exact: canary}}\n",
    );
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let annotations = || {
        e.c.get("networking.k8s.io/v1", "Ingress", "podinfo-canary")["metadata"]["annotations"]
            .clone()
    };
    let mut during = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        assert!(matches!(e.cmd(&["step"]).code, 0), "step failed");
        let a = annotations();
        if a.get("nginx.ingress.kubernetes.io/canary-by-header")
            .is_some()
        {
            during = Some(a);
        }
        if e.state()["phase"] == "Succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(600));
    }
    let during = during.expect("header rules were set during the iterations");
    assert_eq!(
        during["nginx.ingress.kubernetes.io/canary-by-header"],
        "x-user"
    );
    assert_eq!(
        during["nginx.ingress.kubernetes.io/canary-by-header-value"],
        "insider"
    );
    assert_eq!(
        during["nginx.ingress.kubernetes.io/canary-by-cookie"],
        "canary"
    );
    assert_eq!(e.state()["phase"], "Succeeded");
    let after = annotations();
    let canary_keys: Vec<&String> = after
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("nginx.ingress.kubernetes.io/canary"))
        .collect();
    assert_eq!(
        canary_keys,
        vec![
            "nginx.ingress.kubernetes.io/canary",
            "nginx.ingress.kubernetes.io/canary-weight"
        ]
    );
}

#[test]
fn blue_green_with_plain_kubernetes_services() {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let spec = Cluster::spec_file(
        &dir,
        &canary("podinfo")
            .kubernetes()
            .interval("1s")
            .threshold(2)
            .iterations(2)
            .yaml(),
    );
    let r = c.canary_gate(&["run", "--canary", &spec, "--image", IMAGE]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("canary iteration 2/2"), "{}", r.stdout);
    let primary = c.get("apps/v1", "Deployment", "podinfo-primary");
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/stefanprodan/podinfo:6.7.1"
    );
    assert_eq!(
        c.get("v1", "Service", "podinfo")["spec"]["selector"],
        json!({"app": "podinfo-primary"})
    );
    assert!(
        c.find("networking.k8s.io/v1", "Ingress", "podinfo-canary")
            .is_none(),
        "no L7 object"
    );
    assert_eq!(
        c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
}

#[test]
fn scenario_24_promotion_copies_changed_configs_and_a_config_change_alone_is_a_revision() {
    let e = env(STEPS_20_60);
    e.c.merge_patch(
        "v1",
        "ConfigMap",
        "podinfo-config",
        &json!({"data": {"PODINFO_UI_COLOR": "#ff0000"}}),
    );
    let r = e.cmd(&["run"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("New revision detected"),
        "a config change alone starts a run: {}",
        r.stdout
    );
    assert_eq!(
        e.c.get("v1", "ConfigMap", "podinfo-config-primary")["data"]["PODINFO_UI_COLOR"],
        "#ff0000"
    );
    assert_eq!(e.state()["phase"], "Succeeded");
}

#[test]
fn run_applies_manifests_first() {
    let e = env(STEPS_20_60);
    let text =
        std::fs::read_to_string(crate::support::root().join("fixtures/k8s/podinfo.yaml")).unwrap();
    let docs = serde_saphyr::from_multiple::<Value>(&text).unwrap();
    let mut dep = docs
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    dep["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("ghcr.io/stefanprodan/podinfo:6.8.0");
    dep["spec"]["replicas"] = json!(2);
    let file = e.dir().join("deploy.json");
    std::fs::write(&file, dep.to_string()).unwrap();
    let r = e.cmd(&["run", "--apply", &file.to_string_lossy()]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("applied Deployment/podinfo"),
        "{}",
        r.stdout
    );
    assert_eq!(
        e.image("podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.8.0"
    );
}

#[test]
fn a_metric_template_from_another_namespace_in_the_cluster_is_evaluated() {
    let e = env(
        "    interval: 1s\n    threshold: 2\n    stepWeight: 50\n    metrics:\n      - name: canary-success\n        templateRef: {name: success, namespace: monitoring}\n        templateVariables: {window: 10s}\n        thresholdRange: {min: 99}\n",
    );
    e.c.create(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}),
    );
    e.c.create(json!({
        "apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "success", "namespace": "monitoring"},
        "spec": {"provider": {"type": "prometheus"},
                 "query": "sum(rate(nginx_ingress_controller_requests{namespace=\"{{ namespace }}\",ingress=\"{{ ingress }}\",canary!=\"\",status!~\"5.*\"}[{{ variables.window }}])) / sum(rate(nginx_ingress_controller_requests{namespace=\"{{ namespace }}\",ingress=\"{{ ingress }}\",canary!=\"\"}[{{ variables.window }}])) * 100"}
    }));
    // The simulator's own metrics provider answers this query shape.
    let server = e.c.sim.prometheus_url();
    e.c.merge_patch("apps/v1", "Deployment", "podinfo", &json!({"spec": {"template": {"metadata": {"annotations": {"canary-gate.dev/sim-error-rate": "0.5"}}}}}));
    let r = e.cmd(&["run", "--metrics-server", &server]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("halt advancement: canary-success"),
        "{}",
        r.stdout
    );
    // A template that does not exist anywhere is a failed check that names it.
    let missing = env(
        "    interval: 1s\n    threshold: 1\n    stepWeight: 50\n    metrics:\n      - name: gone\n        templateRef: {name: nowhere}\n        thresholdRange: {min: 1}\n",
    );
    missing.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let r = missing.cmd(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "MetricTemplate test/nowhere is neither in the spec files nor in the cluster"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn a_suspended_canary_is_neither_reconciled_nor_moved() {
    let e = env(STEPS_20_60);
    e.set_image("ghcr.io/stefanprodan/podinfo:6.7.1");
    let text = std::fs::read_to_string(&e.spec)
        .unwrap()
        .replace("spec:\n  provider", "spec:\n  suspend: true\n  provider");
    std::fs::write(&e.spec, text).unwrap();
    let state = e.state();
    e.c.sim.clear_requests();
    for mode in ["run", "step"] {
        let r = e.cmd(&[mode, "--image", IMAGE]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let said: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.contains("suspended"))
            .collect();
        assert_eq!(
            said,
            [
                "test/podinfo: suspended (spec.suspend: true): nothing reconciled, traffic left as it is"
            ],
            "{}",
            r.stdout
        );
    }
    let writes = e.c.writes_but_the_lock();
    assert!(
        writes.is_empty(),
        "nothing but the lock is written: {writes:?}"
    );
    assert_eq!(e.weight(), 0);
    assert_eq!(e.state(), state, "the state is untouched");
    assert_eq!(
        e.image("podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.7.0"
    );
    let status = e.cmd(&["status"]);
    assert!(status.stdout.contains("(suspended)"), "{}", status.stdout);
}
