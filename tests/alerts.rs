//! Notifications through the binary, run as the action: a faulty release rolled back with an
//! alert to each platform's recording stand-in, every body checked against the platform's JSON
//! schema (`fixtures/notify/`, written from its documentation) and for the canary, the failing
//! check's value and range and the links; severity routing counted; a provider that fails then
//! hangs costs one warning and changes neither the exit code nor the steps.

use crate::canary::canary;
use crate::cluster::Cluster;
use crate::github::{Github, Workspace};
use crate::hooks::{Answer, Hooks};
use crate::support::{Run, root, run};
use serde_json::{Value, json};

const SLACK_TOKEN: &str = "xoxb-alerts-suite-token";

fn schema(name: &str) -> jsonschema::Validator {
    let path = root()
        .join("fixtures/notify")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn ok(code: u16, body: &str) -> Answer {
    Answer {
        code,
        body: Some(body.to_string()),
        headers: Vec::new(),
        hang: false,
    }
}

/// The app with traffic, a canary checked by the built-in success rate, these `alerts` lines
/// and `providers` documents, taken over by the action.
struct Alerting {
    gh: Github,
    c: Cluster,
    ws: Workspace,
}

impl Alerting {
    fn new(alerts: &str, providers: &str, hook: Option<&str>) -> Alerting {
        let gh = Github::start(201);
        let c = Cluster::new();
        c.podinfo_with_traffic();
        let mut b = canary("podinfo")
            .nginx()
            .metrics_server(&c.sim.prometheus_url())
            .interval("1s")
            .threshold(2)
            .step_weight(20)
            .max_weight(40)
            .success_rate("5s", 99)
            .analysis_lines(alerts);
        if let Some(h) = hook {
            b = b.webhook(h);
        }
        let spec = format!("{}---\n{providers}", b.yaml());
        let ws = Workspace::new(&spec);
        let a = Alerting { gh, c, ws };
        let r = a.action("init");
        assert_eq!(r.code, 0, "init: {}", r.stderr);
        a
    }

    fn action(&self, command: &str) -> Run {
        run(&mut self
            .ws
            .action(command, &self.gh.api_url(), &self.c.sim.kubeconfig))
    }

    /// A release whose pods fail half their requests, run: rolled back.
    fn faulty_release(&self) -> Run {
        self.c.release("6.7.1", "0.5");
        let r = self.action("run");
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        r
    }
}

fn provider(name: &str, kind: &str, address: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata: {{name: {name}, namespace: test}}\nspec: {{type: {kind}, address: '{address}'}}\n"
    )
}

const INFO: &str = "    alerts:\n      - {name: all, severity: info, providerRef: {name: chat}}\n";

/// Rolls a faulty release back with an `info` alert to a `kind` provider at `path` of the
/// stand-in (answered with `answer`); every body received must validate against `schema` and
/// the rollback's must name the canary, the failing check and the links.
fn one_platform(
    kind: &str,
    path: &str,
    answer: Answer,
    schema_name: &str,
) -> Vec<crate::hooks::Seen> {
    platform_from(kind, path, answer, schema_name, false)
}

/// [`one_platform`], the AlertProvider in the spec files or (`in_cluster`) only in the cluster.
fn platform_from(
    kind: &str,
    path: &str,
    answer: Answer,
    schema_name: &str,
    in_cluster: bool,
) -> Vec<crate::hooks::Seen> {
    let hooks = Hooks::start();
    hooks.answers_in_turn(path, vec![answer]);
    let doc = provider("chat", kind, &format!("{}{path}", hooks.url));
    let a = match in_cluster {
        false => Alerting::new(INFO, &doc, None),
        true => {
            let a = Alerting::new(INFO, "", None);
            a.c.create(serde_saphyr::from_str::<Value>(&doc).unwrap());
            a
        }
    };
    a.faulty_release();
    let seen = hooks.requests(&hooks_path(kind, path));
    // The take-over (unless the provider was created after it), new revision, the rollback.
    let expected = if in_cluster { 2 } else { 3 };
    assert_eq!(seen.len(), expected, "{seen:#?}");
    if !in_cluster {
        let first = seen[0].body.to_string();
        for must in [
            "initialization completed",
            "Deployment/podinfo.test",
            "Weight step: 20 max: 40",
        ] {
            assert!(first.contains(must), "{must} not in {first}");
        }
    }
    let v = schema(schema_name);
    for r in &seen {
        let errors: Vec<String> = v
            .iter_errors(&r.body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{:#}", r.body);
    }
    let last = seen[expected - 1].body.to_string();
    for must in [
        "podinfo.test",
        "Failed checks threshold reached 2",
        "request-success-rate: ",
        "(range: min 99)",
        "https://github.com/o/r/runs/",
        "https://github.com/o/r/actions/runs/99",
    ] {
        assert!(last.contains(must), "{must} not in {last}");
    }
    seen
}

/// Where a provider's requests land (Discord's Slack-compatible endpoint adds `/slack`).
fn hooks_path(kind: &str, path: &str) -> String {
    if kind == "discord" {
        format!("{path}/slack")
    } else {
        path.to_string()
    }
}

#[test]
fn slack_incoming_webhook() {
    one_platform("slack", "/services/T0/B0/xyz", ok(200, "ok"), "slack");
}

#[test]
fn slack_chat_post_message_with_a_token_from_the_secret() {
    let hooks = Hooks::start();
    let path = "/api/chat.postMessage";
    hooks.answers_in_turn(path, vec![ok(200, r#"{"ok":true,"ts":"1"}"#)]);
    let provider = "apiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata: {name: chat, namespace: test}\nspec: {type: slack, channel: deploys, secretRef: {name: slack-bot}}\n";
    let a = Alerting::new(INFO, provider, None);
    a.c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "slack-bot", "namespace": "test"},
        "stringData": {"address": format!("{}{path}", hooks.url), "token": SLACK_TOKEN}}));
    a.faulty_release();
    let seen = hooks.requests(path);
    assert_eq!(seen.len(), 2, "new revision, then the rollback: {seen:#?}");
    let v = schema("slack");
    for r in &seen {
        assert!(v.is_valid(&r.body), "{:#}", r.body);
        assert_eq!(r.body["channel"], "deploys");
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {SLACK_TOKEN}").as_str())
        );
    }
}

#[test]
fn discord_through_its_slack_compatible_endpoint() {
    one_platform(
        "discord",
        "/api/webhooks/1/tok",
        ok(204, ""),
        "discord-slack",
    );
}

#[test]
fn rocket_chat() {
    one_platform(
        "rocket",
        "/hooks/abc/def",
        ok(200, r#"{"success":true}"#),
        "rocket",
    );
}

#[test]
fn google_chat_with_the_provider_read_from_the_cluster() {
    platform_from(
        "gchat",
        "/v1/spaces/AAA/messages?key=k&token=t",
        ok(200, "{}"),
        "gchat",
        true,
    );
}

#[test]
fn teams_workflows() {
    one_platform(
        "msteams",
        "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s",
        ok(202, ""),
        "teams-workflow",
    );
}

#[test]
fn teams_legacy_connector() {
    one_platform(
        "msteams",
        "/webhookb2/g@t/IncomingWebhook/id/g",
        ok(200, "1"),
        "teams-connector",
    );
}

#[test]
fn each_severity_gets_what_flagger_sends_it() {
    let hooks = Hooks::start();
    let alerts = "    alerts:\n      - {name: i, severity: info, providerRef: {name: info}}\n      - {name: w, severity: warn, providerRef: {name: warn}}\n      - {name: e, severity: error, providerRef: {name: error}}\n";
    let providers: Vec<String> = ["info", "warn", "error"]
        .iter()
        .map(|s| provider(s, "slack", &format!("{}/{s}", hooks.url)))
        .collect();
    let gate = format!(
        "{{name: approve, type: confirm-rollout, url: '{}/approve'}}",
        hooks.url
    );
    hooks.answer("/approve", 403);
    let a = Alerting::new(alerts, &providers.join("---\n"), Some(&gate));
    a.c.release("6.7.1", "0.5");
    let r = a.action("step");
    assert_eq!(r.code, 4, "waiting for approval: {}", r.stdout);
    hooks.answer("/approve", 200);
    let r = a.action("run");
    assert_eq!(r.code, 1, "{}", r.stdout);
    // take-over (info), waiting (warn), new revision (info), threshold reached (error).
    let counts: Vec<usize> = ["/info", "/warn", "/error"]
        .iter()
        .map(|p| hooks.requests(p).len())
        .collect();
    assert_eq!(counts, [4, 2, 1]);
    let texts: Vec<String> = hooks
        .bodies("/warn")
        .iter()
        .map(|b| b["attachments"][0]["text"].to_string())
        .collect();
    assert!(
        texts[0].contains("Canary is waiting for approval."),
        "{texts:?}"
    );
}

#[test]
fn a_provider_that_fails_then_hangs_costs_one_warning_and_nothing_else() {
    let gate_hooks = Hooks::start();
    let load = format!("{{name: load, url: '{}/load'}}", gate_hooks.url);
    gate_hooks.answer("/load", 500);
    let course = |providers: &str, alerts: &str| {
        let a = Alerting::new(alerts, providers, Some(&load));
        a.c.release("6.7.1", "0");
        let r = a.action("run");
        // The rollout's steps: each distinct (phase, weight, failed checks) in order (waiting
        // ticks, whose number depends on the machine, are not steps).
        let mut steps: Vec<String> = Vec::new();
        for s in a.c.state("podinfo")["history"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = format!("{} {} {}", s["phase"], s["weight"], s["failedChecks"]);
            if steps.last() != Some(&key) {
                steps.push(key);
            }
        }
        (r, steps)
    };
    let plain = provider("unused", "slack", "http://127.0.0.1:9/never");
    let (quiet, quiet_steps) = course(&plain, "");
    let hooks = Hooks::start();
    let failing = Answer {
        code: 500,
        body: Some("boom".into()),
        headers: Vec::new(),
        hang: false,
    };
    let hang = Answer {
        code: 200,
        body: None,
        headers: Vec::new(),
        hang: true,
    };
    hooks.answers_in_turn("/down", vec![failing, hang]);
    let (loud, loud_steps) = course(
        &provider("chat", "slack", &format!("{}/down", hooks.url)),
        INFO,
    );
    assert_eq!(quiet.code, 1, "{}", quiet.stdout);
    assert_eq!(loud.code, quiet.code, "{}", loud.stdout);
    assert_eq!(loud_steps, quiet_steps);
    let out = format!("{}{}", loud.stdout, loud.stderr);
    let warnings: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("warning: alerts"))
        .collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].contains("HTTP 500") || warnings[0].contains("no answer"),
        "{}",
        warnings[0]
    );
    assert!(!hooks.requests("/down").is_empty());
}

#[test]
fn validate_and_plan_say_where_alerts_go_without_the_address() {
    let secret_path = "/services/T0/B0/plan-Secret-31ab";
    let spec = format!(
        "{}---\n{}",
        canary("podinfo")
            .nginx()
            .interval("1m")
            .threshold(2)
            .iterations(2)
            .analysis_lines("    alerts:\n      - {name: on-call, severity: warn, providerRef: {name: chat}}\n      - {name: elsewhere, severity: error, providerRef: {name: gone}}\n")
            .yaml(),
        provider("chat", "slack", &format!("https://hooks.slack.com{secret_path}"))
            .replace("type: slack,", "type: slack, channel: deploys,")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("canary.yaml");
    std::fs::write(&file, &spec).unwrap();
    let file = file.to_str().unwrap();
    let v = crate::support::cg(&["validate", file]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stderr
            .contains("warn alerts go to slack AlertProvider \"chat\", channel deploys"),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr.contains(
            "AlertProvider \"gone\" is not in these files; it will be read from the cluster"
        ),
        "{}",
        v.stderr
    );
    let p = crate::support::cg(&["plan", "--canary", file]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    assert!(
        p.stdout
            .contains("| on-call | warn | chat | slack | deploys | `https://hooks.slack.com/…` |"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout
            .contains("| elsewhere | error | gone | read from the cluster at run time |"),
        "{}",
        p.stdout
    );
    for out in [&v.stdout, &v.stderr, &p.stdout, &p.stderr] {
        assert!(!out.contains(secret_path), "{out}");
    }
}
