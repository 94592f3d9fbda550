//! Many canaries in one `run`: twenty services from one spec file, driven side by side (ten at a
//! time), half of them faulty. The healthy ones are promoted and the faulty ones rolled back, each
//! with its own state and check run; the job summary has a section for each; the exit code is the
//! worst outcome (1).

use crate::cluster::{Cluster, fast_canary};
use crate::github::{Github, Workspace, assert_valid};
use crate::support::run;
use serde_json::{Value, json};

const N: usize = 20;

fn name(i: usize) -> String {
    format!("app{i:02}")
}

fn app(c: &Cluster, i: usize) {
    let n = name(i);
    c.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": n, "namespace": "test"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": n}},
            "template": {"metadata": {"labels": {"app": n}}, "spec": {"containers": [
                {"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                 "ports": [{"name": "http", "containerPort": 9898}]}]}}}}));
    c.create(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": n, "namespace": "test"},
        "spec": {"selector": {"app": n}, "ports": [{"name": "http", "port": 80, "targetPort": 9898}]}}));
    c.create(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": n, "namespace": "test", "annotations": {"canary-gate.dev/sim-rps": "200"}},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": format!("{n}.test"), "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": n, "port": {"number": 80}}}}]}}]}}));
}

#[test]
fn twenty_canaries_in_one_run_each_with_its_own_outcome() {
    let c = Cluster::new();
    for i in 0..N {
        app(&c, i);
    }
    let metrics = c.sim.prometheus_url();
    let specs: Vec<String> = (0..N).map(|i| fast_canary(&name(i), &metrics)).collect();
    let ws = Workspace::new(&specs.join("---\n"));
    let gh = Github::start(201);

    // The first run takes all twenty over; nothing to roll out yet.
    let first = run(&mut ws.action("run", &gh.api_url(), &c.sim.kubeconfig));
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let before = gh.requests().len();
    let _ = std::fs::remove_file(ws.file("summary.md"));

    // A release everywhere; every odd service fails half its requests.
    for i in 0..N {
        let error_rate = if i % 2 == 1 { "0.5" } else { "0" };
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": error_rate}},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}]}}}});
        c.patch_deployment(&name(i), &patch);
    }
    let r = run(&mut ws.action("run", &gh.api_url(), &c.sim.kubeconfig));
    assert_eq!(r.code, 1, "the worst outcome: {}\n{}", r.stdout, r.stderr);

    let calls = &gh.requests()[before..];
    for i in 0..N {
        let n = name(i);
        let state: Value = serde_json::from_str(
            c.get("v1", "ConfigMap", &format!("canary-gate.{n}"))["data"]["state.json"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let (phase, conclusion) = if i % 2 == 0 {
            ("Succeeded", "success")
        } else {
            ("Failed", "failure")
        };
        assert_eq!(state["phase"], phase, "{n}");
        let image = &c.get("apps/v1", "Deployment", &format!("{n}-primary"))["spec"]["template"]["spec"]
            ["containers"][0]["image"];
        assert_eq!(
            image.as_str().unwrap().ends_with(":6.7.1"),
            i % 2 == 0,
            "{n}: {image}"
        );
        // Its own check run: created once, completed once with its conclusion.
        let creates: Vec<&Value> = calls
            .iter()
            .filter(|(m, _, b)| m == "POST" && b["name"] == format!("canary-gate: test/{n}"))
            .map(|(_, _, b)| b)
            .collect();
        assert_eq!(creates.len(), 1, "{n}: {}", r.stderr);
        assert_valid(creates[0], true);
        let id = 1000 + i;
        let done: Vec<&Value> = calls
            .iter()
            .filter(|(m, p, b)| {
                m == "PATCH"
                    && p.ends_with(&format!("/check-runs/{id}"))
                    && b["status"] == "completed"
            })
            .map(|(_, _, b)| b)
            .collect();
        assert_eq!(done.len(), 1, "{n}: {}", r.stderr);
        assert_valid(done[0], false);
        assert_eq!(done[0]["conclusion"], conclusion, "{n}");
        // Its progress lines carry its name.
        assert!(r.stdout.contains(&format!("test/{n}: ")), "{n}");
    }
    let summary = ws.read("summary.md");
    assert_eq!(summary.matches("### ✅ Promoted: `test/app").count(), N / 2);
    assert_eq!(
        summary.matches("### ❌ Rolled back: `test/app").count(),
        N / 2
    );
    assert!(!r.stdout.contains("::group::"), "no interleaved log groups");
}

#[test]
fn fail_fast_rolls_back_the_running_and_skips_the_rest() {
    let c = Cluster::new();
    for i in 0..3 {
        app(&c, i);
    }
    let metrics = c.sim.prometheus_url();
    // app00 fails at its first check; the others walk five slow steps.
    let specs: Vec<String> = (0..3)
        .map(|i| {
            let spec = fast_canary(&name(i), &metrics);
            if i == 0 {
                spec.replace("threshold: 2", "threshold: 1")
            } else {
                spec.replace("stepWeight: 50", "stepWeight: 10")
            }
        })
        .collect();
    let ws = Workspace::new(&specs.join("---\n"));
    let gh = Github::start(201);
    let first = run(&mut ws.action("run", &gh.api_url(), &c.sim.kubeconfig));
    assert_eq!(first.code, 0, "{}", first.stderr);
    for i in 0..3 {
        let error_rate = if i == 0 { "0.5" } else { "0" };
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": error_rate}},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}]}}}});
        c.patch_deployment(&name(i), &patch);
    }
    let mut cmd = ws.action("run", &gh.api_url(), &c.sim.kubeconfig);
    cmd.env("INPUT_FAIL-FAST", "true")
        .env("INPUT_MAX-PARALLEL", "2");
    let r = run(&mut cmd);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let state = |n: &str| -> Value {
        serde_json::from_str(
            c.get("v1", "ConfigMap", &format!("canary-gate.{n}"))["data"]["state.json"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(state("app00")["phase"], "Failed");
    let stopped = state("app01");
    assert_eq!(stopped["phase"], "Failed", "{stopped}");
    assert!(
        stopped["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--fail-fast"),
        "{stopped}"
    );
    let image = &c.get("apps/v1", "Deployment", "app01-primary")["spec"]["template"]["spec"]["containers"]
        [0]["image"];
    assert_eq!(
        image, "ghcr.io/stefanprodan/podinfo:6.7.0",
        "never promoted"
    );
    assert_eq!(state("app02")["phase"], "Initialized", "never started");
    assert!(r.stdout.contains("test/app02: skipped"), "{}", r.stdout);
}
