//! A DaemonSet as the target (Flagger's `DaemonSetController`), through the binary: `init`
//! creates `<name>-primary` and takes the target off its nodes with the scale-to-zero node
//! selector; a good release is promoted, a faulty one rolled back, and one whose pods never
//! become ready is rolled back once `progressDeadlineSeconds` has passed since the canary last
//! moved. The objects are read back with kubectl.

use crate::canary::canary;
use crate::cluster::{Cluster, Lab, kubectl_run};
use crate::hooks::Hooks;
use canary_gate_sim::store::PatchKind;
use serde_json::{Value, json};

const SCALE_TO_ZERO: &str = "flagger.app/scale-to-zero";

fn agent(c: &Cluster) {
    c.create(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "agent-config", "namespace": "test"}, "data": {"LEVEL": "info"}}));
    let labels = json!({"app": "agent"});
    c.create(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "test", "labels": labels},
        "spec": {"selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "agent", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                    "envFrom": [{"configMapRef": {"name": "agent-config"}}],
                    "ports": [{"name": "http", "containerPort": 9898}]}]}}}}));
}

/// A release: a new image, and pod template annotations (e.g. never ready).
fn release(c: &Cluster, tag: &str, annotations: Value) {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "agent", "image": format!("ghcr.io/stefanprodan/podinfo:{tag}")}]}}}});
    c.sim
        .patch(
            "apps/v1",
            "DaemonSet",
            "test",
            "agent",
            PatchKind::Strategic,
            &patch,
        )
        .unwrap();
}

fn get(c: &Cluster, what: &str) -> Value {
    serde_json::from_str(&kubectl_run(c, &["get", what, "-n", "test", "-o", "json"])).unwrap()
}

fn image(c: &Cluster, ds: &str) -> String {
    let d = get(c, &format!("daemonset/{ds}"));
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether the target is off its nodes (the scale-to-zero node selector is set).
fn off_its_nodes(c: &Cluster) -> bool {
    let d = get(c, "daemonset/agent");
    d["spec"]["template"]["spec"]["nodeSelector"][SCALE_TO_ZERO] == "true"
}

fn spec(hook: &str, deadline: u32) -> String {
    canary("agent")
        .kubernetes()
        .spec(&format!("progressDeadlineSeconds: {deadline}"))
        .interval("1s")
        .threshold(2)
        .iterations(2)
        .webhook(&format!("{{name: load, url: '{hook}/load'}}"))
        .yaml()
        .replace("kind: Deployment", "kind: DaemonSet")
}

#[test]
fn a_daemonset_target_is_promoted_rolled_back_and_rolled_back_when_stuck() {
    let c = Cluster::new();
    agent(&c);
    let hooks = Hooks::start();
    let lab = Lab::new(c, &spec(&hooks.url, 60));
    let c = &lab.c;
    lab.init();
    let primary = get(c, "daemonset/agent-primary");
    assert_eq!(
        primary["spec"]["selector"]["matchLabels"],
        json!({"app": "agent-primary"})
    );
    assert_eq!(
        primary["spec"]["template"]["metadata"]["labels"]["app"],
        "agent-primary"
    );
    assert!(
        primary["spec"]["template"]["spec"]["nodeSelector"]
            .get(SCALE_TO_ZERO)
            .is_none()
    );
    assert!(off_its_nodes(c), "init takes the target off its nodes");
    // Config tracking: the primary reads the -primary copy of the ConfigMap.
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        "agent-config-primary"
    );
    assert_eq!(
        get(c, "configmap/agent-config-primary")["data"]["LEVEL"],
        "info"
    );
    let status = &get(c, "daemonset/agent-primary")["status"];
    assert_eq!(
        status["desiredNumberScheduled"], 1,
        "the node runs the primary: {status}"
    );
    assert_eq!(status["numberAvailable"], 1, "{status}");
    for (svc, app) in [
        ("agent", "agent-primary"),
        ("agent-primary", "agent-primary"),
        ("agent-canary", "agent"),
    ] {
        let s = get(c, &format!("service/{svc}"));
        assert_eq!(s["spec"]["selector"], json!({"app": app}), "{svc}");
        assert_eq!(s["spec"]["ports"][0]["port"], 80, "{svc}");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 9898, "{svc}");
    }

    release(c, "6.7.1", json!({}));
    let r = lab.cmd(&["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.state("agent")["phase"], "Succeeded", "{}", r.stdout);
    assert!(r.stdout.contains("canary iteration 2/2"), "{}", r.stdout);
    assert!(image(c, "agent-primary").ends_with(":6.7.1"));
    assert!(
        off_its_nodes(c),
        "after promotion the target is off its nodes again"
    );

    release(c, "6.7.2", json!({}));
    hooks.answer("/load", 500);
    let r = lab.cmd(&["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.state("agent")["phase"], "Failed", "{}", r.stdout);
    assert!(
        image(c, "agent-primary").ends_with(":6.7.1"),
        "the primary keeps the good release"
    );
    assert!(off_its_nodes(c));

    // Pods that never become ready: rolled back once the deadline passes since the last move.
    hooks.answer("/load", 200);
    std::fs::write(&lab.spec, spec(&hooks.url, 3)).unwrap();
    release(c, "6.7.3", json!({"canary-gate.dev/sim-ready": "false"}));
    let r = lab.cmd(&["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("progressDeadlineSeconds"), "{}", r.stdout);
    assert!(image(c, "agent-primary").ends_with(":6.7.1"));
    assert!(off_its_nodes(c));
}
