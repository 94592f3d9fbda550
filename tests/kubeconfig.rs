//! Connecting: the kubeconfig input (content, base64), unreachable servers, exec plugins, and
//! credentials that never leak.

use crate::cluster::Cluster;
use crate::support::{canary_gate, run};
use base64::Engine;
use canary_gate_sim::Sim;

const TOKEN: &str = "sim-token-4f9c2a7e1b";

fn sim_with_token() -> (canary_gate_sim::SimHandle, String) {
    let sim = Sim::start(crate::cluster::config(Some(TOKEN))).unwrap();
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    assert!(text.contains(TOKEN));
    (sim, text)
}

#[test]
fn a_kubeconfig_input_token_is_masked_and_never_written() {
    let (sim, text) = sim_with_token();
    let c = Cluster { sim };
    c.create(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}),
    );
    c.podinfo(|_| {});
    let tmp = tempfile::tempdir().unwrap();
    for input in [
        text.clone(),
        base64::engine::general_purpose::STANDARD.encode(&text),
    ] {
        let r = run(canary_gate()
            .args(["init", "--canary", "fixtures/k8s/canary.yaml"])
            .env("INPUT_KUBECONFIG", &input)
            .env("GITHUB_ACTIONS", "true")
            .env("TMPDIR", tmp.path()));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(!r.stdout.contains(TOKEN), "stdout leaks the token");
        let masked: Vec<&str> = r.stderr.lines().filter(|l| l.contains(TOKEN)).collect();
        assert_eq!(
            masked,
            vec![format!("::add-mask::{TOKEN}")],
            "stderr shows the token only to mask it"
        );
        assert!(
            r.stderr.find("::add-mask::").unwrap() < r.stderr.find("INFO").unwrap_or(usize::MAX),
            "masked before anything else"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "nothing is left in TMPDIR: {left:?}");
    }
}

#[test]
fn an_unreachable_api_is_exit_3_naming_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kc = canary_gate_sim::kubeconfig_yaml(&format!("http://127.0.0.1:{port}"), "x");
    let r = run(canary_gate()
        .args(["init", "--canary", "fixtures/k8s/canary.yaml"])
        .env("INPUT_KUBECONFIG", kc));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the Kubernetes API at http://127.0.0.1:{port}/ is unreachable"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_exec_plugin_is_named() {
    let kc = "apiVersion: v1\nkind: Config\nclusters: [{name: k, cluster: {server: \"https://127.0.0.1:1\"}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\ncurrent-context: c\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: gke-gcloud-auth-plugin-missing\n";
    let r = run(canary_gate()
        .args(["init", "--canary", "fixtures/k8s/canary.yaml"])
        .env("INPUT_KUBECONFIG", kc));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("exec plugin \"gke-gcloud-auth-plugin-missing\", which is not on PATH"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_kubeconfig_input_that_is_nothing_is_refused_without_showing_it() {
    let r = run(canary_gate()
        .args(["init", "--canary", "fixtures/k8s/canary.yaml"])
        .env("INPUT_KUBECONFIG", "not-a-file-or-yaml-9s8d7f"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("input kubeconfig: not an existing file"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("9s8d7f"));
}
