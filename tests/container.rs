//! The binary run the way the runner runs a container action: nothing in the environment but
//! `INPUT_*`, `GITHUB_*` and `RUNNER_*`, the working directory a workspace holding the spec,
//! `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` inside it, the kubeconfig as a base64 input. And the
//! two ways that cannot work in a container (a `KUBECONFIG` path on the host, an exec plugin the
//! image lacks), which must fail with exit 2 and say which ways do work.

use crate::cluster::{Cluster, fast_canary};
use crate::github::parse_outputs;
use crate::support::{Run, run};
use base64::Engine;
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// `canary-gate` with the environment a container action gets, and `inputs` on top.
pub fn as_container_action(ws: &Path, inputs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canary-gate"));
    cmd.env_clear().current_dir(ws);
    cmd.envs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_SHA", "4f1c2d9e4f1c2d9e4f1c2d9e4f1c2d9e4f1c2d9e"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_RUN_ID", "7"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("RUNNER_OS", "Linux"),
        ("RUNNER_TEMP", "/home/runner/work/_temp"),
        ("INPUT_COMMAND", "run"),
        ("INPUT_CANARY", "deploy/canary.yaml"),
        ("INPUT_GITHUB-TOKEN", ""),
        ("INPUT_LOG-LEVEL", "info"),
    ]);
    cmd.env("GITHUB_WORKSPACE", ws)
        .env("GITHUB_OUTPUT", ws.join("_output"))
        .env("GITHUB_STEP_SUMMARY", ws.join("_summary"));
    cmd.envs(inputs.iter().copied());
    cmd
}

fn workspace(metrics: &str) -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("deploy")).unwrap();
    std::fs::write(
        ws.path().join("deploy/canary.yaml"),
        fast_canary("podinfo", metrics),
    )
    .unwrap();
    ws
}

fn guidance(r: &Run) {
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or_default();
    for way in [
        "`kubeconfig` input",
        "inside the workspace",
        "self-hosted runner inside the cluster",
    ] {
        assert!(line.contains(way), "{way:?} missing from: {line}");
    }
}

#[test]
fn a_rollout_as_a_container_action() {
    let c = Cluster::new();
    c.podinfo_with_traffic();
    let ws = workspace(&c.sim.prometheus_url());
    let kubeconfig = std::fs::read_to_string(&c.sim.kubeconfig).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
    let inputs = [("INPUT_KUBECONFIG", b64.as_str())];

    // First run: takes over the target; nothing to roll out yet.
    let first = run(&mut as_container_action(ws.path(), &inputs));
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("nothing to do"), "{}", first.stdout);

    // A release, then the run that rolls it out.
    let patch = json!({"spec": {"template": {
        "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": "0", "canary-gate.dev/sim-latency-ms": "10"}},
        "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}]}}}});
    c.patch_deployment("podinfo", &patch);
    let _ = std::fs::remove_file(ws.path().join("_output"));
    let r = run(&mut as_container_action(ws.path(), &inputs));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let outputs = parse_outputs(&std::fs::read_to_string(ws.path().join("_output")).unwrap());
    assert_eq!(outputs["phase"], "succeeded");
    assert_eq!(outputs["conclusion"], "success");
    assert_eq!(outputs["report"], "canary-gate-report.json");
    assert!(ws.path().join("canary-gate-report.json").is_file());
    let summary = std::fs::read_to_string(ws.path().join("_summary")).unwrap();
    assert!(
        summary.contains("### ✅ Promoted: `test/podinfo`"),
        "{summary}"
    );
    assert!(
        r.stderr.contains("warning: no github-token input"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_host_kubeconfig_path_or_a_missing_exec_plugin_says_what_works() {
    let ws = workspace("http://prometheus:9090");
    let host_path = run(&mut as_container_action(
        ws.path(),
        &[("KUBECONFIG", "/home/runner/work/_temp/kubeconfig_123")],
    ));
    guidance(&host_path);
    assert!(
        host_path
            .stderr
            .contains("/home/runner/work/_temp/kubeconfig_123")
    );

    let kubeconfig = |command: &str, args: &str| {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster: {{server: 'https://k.example.com'}}\ncontexts:\n- name: k\n  context: {{cluster: k, user: k}}\ncurrent-context: k\nusers:\n- name: k\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {command}\n      args: {args}\n"
        );
        base64::engine::general_purpose::STANDARD.encode(text)
    };
    // A plugin canary-gate does not serve: the ways that work.
    let oidc = kubeconfig(
        "kubectl-oidc_login",
        "[get-token, --oidc-issuer-url=https://issuer.example]",
    );
    let exec = run(&mut as_container_action(
        ws.path(),
        &[("INPUT_KUBECONFIG", oidc.as_str())],
    ));
    guidance(&exec);
    assert!(
        exec.stderr.contains("exec plugin \"kubectl-oidc_login\""),
        "{}",
        exec.stderr
    );
    // One it serves, with no AWS credentials in the job: what to set.
    let eks = kubeconfig("aws", "[eks, get-token, --cluster-name, shop]");
    let r = run(&mut as_container_action(
        ws.path(),
        &[("INPUT_KUBECONFIG", eks.as_str())],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("EKS token: no AWS credentials: set AWS_ACCESS_KEY_ID"),
        "{}",
        r.stderr
    );
}
