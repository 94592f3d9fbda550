//! Every secret a user gives canary-gate, grepped for in every sink after a promoted and a
//! rolled-back release run as the action: the kubeconfig input (given as content), the GitHub
//! token, Prometheus credentials (basic auth in the metrics-server URL, a bearer token from a
//! MetricTemplate's `secretRef`), a webhook URL with credentials, and an alert provider's address
//! (its secret in the path, as Slack's) and bot token from its `secretRef`. Sinks: stdout and stderr
//! (bar the `::add-mask::` commands), the job summary, the outputs, the JSON report, every
//! check-run body, the cluster's Events and ConfigMaps, and the temporary directory.

use crate::cluster::{Cluster, fast};
use crate::github::{Github, Workspace};
use crate::hooks::Hooks;
use crate::support::run;
use serde_json::json;

const GITHUB_TOKEN: &str = "ghs_SecretsSuiteToken0099";
const KUBE_TOKEN: &str = "kube-bearer-Secrets-4d1e";
const PROM_PASSWORD: &str = "prom-basic-Secret-55aa";
const PROM_TOKEN: &str = "prom-bearer-Secret-c0ffee";
const HOOK_PASSWORD: &str = "hook-Secret-b00b";
const ALERT_PATH: &str = "/services/T0/B0/alert-Secret-77aa";
const ALERT_TOKEN: &str = "xoxb-alert-Secret-1234";

fn spec(metrics: &str, templated: &str, hook: &str) -> String {
    let canary = fast("podinfo", metrics)
        .metric("{name: success-by-template, templateRef: {name: success}, interval: 5s, thresholdRange: {min: 99}}")
        .webhook(&format!("{{name: smoke, type: rollout, url: '{hook}'}}"))
        .analysis_lines("    alerts:\n      - {name: on-call, severity: info, providerRef: {name: on-call}}\n")
        .yaml();
    format!(
        "{canary}---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {{name: success, namespace: test}}
spec:
  provider:
    type: prometheus
    address: {templated}
    secretRef: {{name: prom-auth}}
  query: |
    sum(rate(nginx_ingress_controller_requests{{namespace=\"{{{{ namespace }}}}\",ingress=\"{{{{ ingress }}}}\",canary!=\"\",status!~\"5.*\"}}[{{{{ interval }}}}]))
    / sum(rate(nginx_ingress_controller_requests{{namespace=\"{{{{ namespace }}}}\",ingress=\"{{{{ ingress }}}}\",canary!=\"\"}}[{{{{ interval }}}}])) * 100
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {{name: on-call, namespace: test}}
spec: {{type: slack, channel: deploys, secretRef: {{name: on-call-slack}}}}
"
    )
}

#[test]
fn no_secret_reaches_any_sink() {
    let gh = Github::start(201);
    let c = Cluster::with_token(Some(KUBE_TOKEN));
    c.podinfo_with_traffic();
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "prom-auth", "namespace": "test"},
        "stringData": {"token": PROM_TOKEN}}));
    let hooks = Hooks::start();
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "on-call-slack", "namespace": "test"},
        "stringData": {"address": format!("{}{ALERT_PATH}", hooks.url), "token": ALERT_TOKEN}}));
    let hook = hooks
        .url
        .replace("http://", &format!("http://ci:{HOOK_PASSWORD}@"))
        + "/smoke";
    let prom = c.sim.prometheus_url();
    let with_basic = prom.replace("http://", &format!("http://prom:{PROM_PASSWORD}@"));
    let ws = Workspace::new(&spec(&with_basic, &prom, &hook));
    let kubeconfig = std::fs::read_to_string(&c.sim.kubeconfig).unwrap();
    assert!(kubeconfig.contains(KUBE_TOKEN));
    let tmp = tempfile::tempdir().unwrap();
    let action = |command: &str| {
        let mut cmd = ws.action(command, &gh.api_url(), &c.sim.kubeconfig);
        cmd.env("INPUT_KUBECONFIG", &kubeconfig)
            .env("INPUT_GITHUB-TOKEN", GITHUB_TOKEN)
            .env("TMPDIR", tmp.path());
        run(&mut cmd)
    };
    let first = action("run");
    assert_eq!(first.code, 0, "take-over: {}", first.stderr);
    c.release("6.7.1", "0");
    let good = action("run");
    assert_eq!(good.code, 0, "{}\n{}", good.stdout, good.stderr);
    assert!(
        good.stderr.contains("success-by-template = 100"),
        "the templated check ran with its bearer token: {}",
        good.stderr
    );
    let summary_good = ws.read("summary.md");
    c.release("6.7.2", "0.5");
    let bad = action("run");
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);

    let mut sinks: Vec<(String, String)> = vec![
        ("good stdout".into(), good.stdout.clone()),
        ("bad stdout".into(), bad.stdout.clone()),
        ("summary".into(), summary_good + &ws.read("summary.md")),
        ("outputs".into(), ws.read("output.txt")),
        ("report".into(), ws.read("canary-gate-report.json")),
    ];
    for (name, r) in [("first", &first), ("good", &good), ("bad", &bad)] {
        let unmasked: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        sinks.push((format!("{name} stderr"), unmasked.join("\n")));
    }
    for secret in [
        GITHUB_TOKEN,
        PROM_PASSWORD,
        PROM_TOKEN,
        HOOK_PASSWORD,
        ALERT_TOKEN,
    ] {
        assert!(
            format!("{}{}", good.stderr, bad.stderr).contains(&format!("::add-mask::{secret}")),
            "{secret} is masked in the log"
        );
    }
    assert!(
        bad.stderr
            .lines()
            .any(|l| l.starts_with("::add-mask::") && l.ends_with(ALERT_PATH)),
        "the alert address is masked whole"
    );
    assert!(
        hooks.requests(ALERT_PATH).len() >= 2,
        "the alerts were sent"
    );
    for (_, _, body) in gh.requests() {
        sinks.push(("check-run body".into(), body.to_string()));
    }
    let cluster = c.events_and_configmaps();
    sinks.push(("events and configmaps".into(), cluster));
    let mut checked = 0;
    for (name, text) in &sinks {
        assert!(
            !text.is_empty() || name.contains("stderr"),
            "{name} is empty"
        );
        for secret in [
            GITHUB_TOKEN,
            KUBE_TOKEN,
            PROM_PASSWORD,
            PROM_TOKEN,
            HOOK_PASSWORD,
            ALERT_PATH,
            ALERT_TOKEN,
        ] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {name}:\n{text}"
            );
            checked += 1;
        }
        // The kubeconfig as given, or any long piece of it, is not echoed either.
        assert!(
            !text.contains(kubeconfig.trim()),
            "the kubeconfig leaked into {name}"
        );
    }
    assert!(checked >= 7 * 10, "{checked}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing is left in TMPDIR: {left:?}");
}
