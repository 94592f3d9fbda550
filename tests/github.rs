//! Reporting to GitHub, end to end: the real binary drives canaries on the simulator while a
//! wiremock GitHub records the Checks API calls. Every body is validated against the request
//! schemas extracted from GitHub's OpenAPI description (fixtures/github/). Also: the job summary
//! and outputs files, a 403 and an unreachable GitHub, and a grep of every sink for secrets.

use crate::canary::canary;
use crate::cluster::Cluster;
use crate::hooks::Hooks;
use crate::support::{Run, canary_gate, root, run};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_TopSecretInstallationToken0042";
const KUBE_TOKEN: &str = "kube-bearer-Secret-7f3a9c";
const HOOK_PASSWORD: &str = "hunter2-webhook-pass";
const HEAD_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("fixtures/github").join(name)).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// Asserts that a Checks API body is one GitHub accepts.
pub fn assert_valid(body: &Value, create: bool) {
    let v = schema(if create {
        "checks-create.request.json"
    } else {
        "checks-update.request.json"
    });
    let errors: Vec<String> = v.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\nin {body:#}");
}

/// A GitHub API on 127.0.0.1 (behind a GHE-style `/api/v3` prefix).
pub struct Github {
    pub rt: tokio::runtime::Runtime,
    pub server: MockServer,
}

impl Github {
    pub fn start(create_status: u16) -> Github {
        Github::start_slow(create_status, std::time::Duration::ZERO)
    }

    /// A GitHub that takes `delay` to answer every request.
    pub fn start_slow(create_status: u16, delay: std::time::Duration) -> Github {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(async {
            let server = MockServer::start().await;
            let created = if create_status == 201 {
                // One id per canary: 1000 + the number its name ends with (4242 for none).
                let respond = move |req: &wiremock::Request| {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    let name = body["name"].as_str().unwrap_or_default();
                    let digits: String = name
                        .trim_end_matches(" (plan)")
                        .chars()
                        .rev()
                        .take_while(char::is_ascii_digit)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    let id = digits.parse::<u64>().map_or(4242, |n| 1000 + n);
                    ResponseTemplate::new(201)
                        .set_body_json(json!({"id": id, "html_url": format!("https://github.com/o/r/runs/{id}")}))
                        .set_delay(delay)
                };
                return finish(server, respond, delay).await;
            } else {
                ResponseTemplate::new(create_status).set_body_json(json!({
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run"
                }))
                .set_delay(delay)
            };
            finish(server, created, delay).await
        });
        Github { rt, server }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.server.uri())
    }

    /// (method, path, body) of every request so far.
    pub fn requests(&self) -> Vec<(String, String, Value)> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                (
                    r.method.to_string(),
                    r.url.path().to_string(),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }
}

/// Mounts the check-run routes: creation answered by `created`, updates with 200 after `delay`.
async fn finish(
    server: MockServer,
    created: impl wiremock::Respond + 'static,
    delay: std::time::Duration,
) -> MockServer {
    Mock::given(method("POST"))
        .and(path("/api/v3/repos/o/r/check-runs"))
        .respond_with(created)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/api/v3/repos/o/r/check-runs/\d+$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 4242}))
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

/// A workspace with `deploy/canary.yaml`, a pull_request event and the runner's files.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(spec: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
        std::fs::write(dir.path().join("deploy/canary.yaml"), spec).unwrap();
        std::fs::write(
            dir.path().join("event.json"),
            json!({"pull_request": {"number": 7, "head": {"sha": HEAD_SHA}}}).to_string(),
        )
        .unwrap();
        Workspace { dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    /// `canary-gate` as the action runs it: inputs and GitHub context from the environment.
    pub fn action(&self, command: &str, api_url: &str, kubeconfig: &Path) -> std::process::Command {
        let mut cmd = canary_gate();
        cmd.envs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_RUN_ID", "99"),
            ("GITHUB_API_URL", api_url),
            ("INPUT_COMMAND", command),
            ("INPUT_CANARY", "deploy/canary.yaml"),
            ("INPUT_GITHUB-TOKEN", TOKEN),
        ]);
        cmd.env("GITHUB_WORKSPACE", self.dir.path())
            .env("GITHUB_EVENT_PATH", self.file("event.json"))
            .env("GITHUB_STEP_SUMMARY", self.file("summary.md"))
            .env("GITHUB_OUTPUT", self.file("output.txt"))
            .env("INPUT_KUBECONFIG", kubeconfig);
        cmd
    }
}

/// GitHub's `$GITHUB_OUTPUT` format: `name=value` lines and `name<<DELIM` blocks.
pub fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

fn spec(metrics_server: &str, hook: &str) -> String {
    canary("podinfo")
        .nginx()
        .metrics_server(metrics_server)
        .interval("1s")
        .threshold(2)
        .step_weight(25)
        .max_weight(50)
        .success_rate("5s", 99)
        .webhook(&format!("{{name: smoke, type: rollout, url: '{hook}'}}"))
        .yaml()
}

/// Line of `needle` in `text`, 1-based.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

/// A GitHub Actions job around the fixture app: its workspace, a token-protected cluster and a
/// webhook receiver.
pub struct ActionJob {
    pub c: Cluster,
    pub ws: Workspace,
    pub _hooks: Hooks,
}

/// The sample app on a token-protected simulator with traffic, initialized by the action.
pub fn lab(gh_api: &str) -> ActionJob {
    let c = Cluster::with_token(Some(KUBE_TOKEN));
    c.podinfo_with_traffic();
    let hooks = Hooks::start();
    let hook = hooks
        .url
        .replace("http://", &format!("http://ci:{HOOK_PASSWORD}@"))
        + "/smoke";
    let metrics = c.sim.prometheus_url();
    let ws = Workspace::new(&spec(&metrics, &hook));
    let r = run(&mut ws.action("init", gh_api, &c.sim.kubeconfig));
    assert_eq!(r.code, 0, "init: {}", r.stderr);
    ActionJob {
        c,
        ws,
        _hooks: hooks,
    }
}

impl ActionJob {
    fn release(&self, image: &str, error_rate: &str) {
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": error_rate, "canary-gate.dev/sim-latency-ms": "10"}},
            "spec": {"containers": [{"name": "podinfo", "image": image}]}}}});
        self.c.patch_deployment("podinfo", &patch);
    }

    fn run(&self, gh_api: &str) -> Run {
        run(&mut self.ws.action("run", gh_api, &self.c.sim.kubeconfig))
    }
}

fn ticks(r: &Run) -> usize {
    r.stdout.matches("next tick in").count() + 1
}

/// The rollout's course: each distinct phase and canary weight it printed, in order.
fn course(r: &Run) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in r.stdout.lines().filter(|l| l.contains(", canary weight ")) {
        let state = line
            .split(", failed checks")
            .next()
            .unwrap_or(line)
            .to_string();
        if out.last() != Some(&state) {
            out.push(state);
        }
    }
    out
}

/// The check-run calls of one rollout: 1 create, at most one update per tick, 1 completion;
/// every body valid. Returns the completion body.
fn check_sequence(calls: &[(String, String, Value)], ticks: usize) -> Value {
    assert!(calls.len() >= 2, "{calls:#?}");
    let (m, p, create) = &calls[0];
    assert_eq!(
        (m.as_str(), p.as_str()),
        ("POST", "/api/v3/repos/o/r/check-runs")
    );
    assert_valid(create, true);
    assert_eq!(
        create["head_sha"], HEAD_SHA,
        "the PR head, not the merge commit"
    );
    assert_eq!(create["status"], "in_progress");
    assert_eq!(create["name"], "canary-gate: test/podinfo");
    assert_eq!(
        create["details_url"],
        "https://github.com/o/r/actions/runs/99"
    );
    let rest = &calls[1..];
    for (m, p, body) in rest {
        assert_eq!(
            (m.as_str(), p.as_str()),
            ("PATCH", "/api/v3/repos/o/r/check-runs/4242")
        );
        assert_valid(body, false);
    }
    let updates = rest
        .iter()
        .filter(|c| c.2["status"] == "in_progress")
        .count();
    assert!(updates >= 2, "updated per tick: {updates}");
    assert!(updates <= ticks, "{updates} updates for {ticks} ticks");
    let done: Vec<&Value> = rest
        .iter()
        .filter(|c| c.2["status"] == "completed")
        .map(|c| &c.2)
        .collect();
    assert_eq!(done.len(), 1, "one completion");
    assert_eq!(
        rest.last().map(|c| &c.2),
        Some(done[0]),
        "completion comes last"
    );
    done[0].clone()
}

#[test]
fn a_rollout_reports_to_the_pull_request_head_and_leaks_nothing() {
    let gh = Github::start(201);
    let api = gh.api_url();
    let lab = lab(&api);
    let init_calls = gh.requests().len();
    assert_eq!(init_calls, 0, "init without findings needs no check run");

    // A healthy release: promoted, success.
    lab.release("ghcr.io/stefanprodan/podinfo:6.7.1", "0");
    let good = lab.run(&api);
    assert_eq!(good.code, 0, "{}\n{}", good.stdout, good.stderr);
    let calls = gh.requests();
    let done = check_sequence(&calls, ticks(&good));
    assert_eq!(done["conclusion"], "success");
    assert!(
        done["output"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("### ✅ Promoted: `test/podinfo`")
    );
    let first = calls.len();

    // A faulty one: rolled back, failure, annotated on the metric's line.
    lab.release("ghcr.io/stefanprodan/podinfo:6.7.2", "0.5");
    let bad = lab.run(&api);
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    let calls = gh.requests();
    let done = check_sequence(&calls[first..], ticks(&bad));
    assert_eq!(done["conclusion"], "failure");
    let spec_text = lab.ws.read("deploy/canary.yaml");
    let annotations = done["output"]["annotations"].as_array().unwrap();
    let metric = annotations
        .iter()
        .find(|a| {
            a["message"]
                .as_str()
                .unwrap()
                .contains("request-success-rate")
        })
        .expect("an annotation for the failing metric");
    assert_eq!(metric["path"], "deploy/canary.yaml");
    assert_eq!(metric["annotation_level"], "failure");
    assert_eq!(
        metric["start_line"].as_u64().unwrap(),
        line_of(&spec_text, "{name: request-success-rate")
    );
    assert!(annotations.iter().any(|a| a["start_line"].as_u64().unwrap()
        == line_of(&spec_text, "name: podinfo")
        && a["message"].as_str().unwrap().contains("rolled back")));

    // The job summary and the outputs.
    let summary = lab.ws.read("summary.md");
    assert!(
        summary.contains("### ✅ Promoted: `test/podinfo`"),
        "{summary}"
    );
    assert!(
        summary.contains("### ❌ Rolled back: `test/podinfo`"),
        "{summary}"
    );
    assert!(summary.contains("| # | time | phase | weight | request-success-rate ≥ 99 | gates |"));
    assert!(summary.contains("smoke ✅"), "{summary}");
    assert!(summary.contains("```text\ncanary weight"), "{summary}");
    assert!(summary.contains("[check run](https://github.com/o/r/runs/4242)"));
    let outputs: Vec<HashMap<String, String>> = lab
        .ws
        .read("output.txt")
        .split("phase<<")
        .skip(1)
        .map(|chunk| parse_outputs(&format!("phase<<{chunk}")))
        .collect();
    assert_eq!(outputs.len(), 2, "one set per step");
    assert_eq!(outputs[0]["phase"], "succeeded");
    assert_eq!(outputs[1]["phase"], "failed");
    assert_eq!(outputs[1]["canary-weight"], "0");
    assert_eq!(outputs[1]["conclusion"], "failure");
    assert_eq!(
        outputs[1]["check-run-url"],
        "https://github.com/o/r/runs/4242"
    );
    assert_eq!(outputs[1]["report"], "canary-gate-report.json");
    assert_eq!(outputs[1]["summary"], "test/podinfo: ❌ Rolled back");
    let report: Value = serde_json::from_str(&lab.ws.read("canary-gate-report.json")).unwrap();
    assert_eq!(report["reports"][0]["verdict"]["verdict"], "rolled-back");

    // No secret anywhere: console (bar the mask commands), files, request bodies, the cluster.
    let mut sinks = vec![
        ("good stdout", good.stdout.clone()),
        ("bad stdout", bad.stdout.clone()),
        ("summary", summary),
        ("outputs", lab.ws.read("output.txt")),
        ("report", lab.ws.read("canary-gate-report.json")),
    ];
    for (name, r) in [("good stderr", &good), ("bad stderr", &bad)] {
        let unmasked: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        sinks.push((name, unmasked.join("\n")));
        assert!(
            r.stderr.contains(&format!("::add-mask::{TOKEN}")),
            "the token is masked"
        );
        assert!(
            r.stderr.contains(&format!("::add-mask::{HOOK_PASSWORD}")),
            "the webhook password is masked"
        );
    }
    for (_, _, body) in &calls {
        sinks.push(("check-run body", body.to_string()));
    }
    let cluster = lab.c.events_and_configmaps();
    sinks.push(("events and configmaps", cluster));
    for (name, text) in &sinks {
        for secret in [TOKEN, KUBE_TOKEN, HOOK_PASSWORD] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {name}:\n{text}"
            );
        }
    }
}

#[test]
fn a_hundred_and_twenty_spec_errors_go_fifty_per_request() {
    let gh = Github::start(201);
    let docs: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: c{i}}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: x}}\n  service: {{port: 80}}\n  analysis: {{interval: soon, threshold: 1, iterations: 2}}\n"
            )
        })
        .collect();
    let ws = Workspace::new(&docs.join("---\n"));
    let r = run(&mut ws.action("validate", &gh.api_url(), Path::new("/nonexistent")));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let calls = gh.requests();
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert_eq!(calls[0].0, "POST");
    assert_valid(&calls[0].2, true);
    assert_eq!(calls[0].2["name"], "canary-gate: validate");
    assert_eq!(calls[0].2["conclusion"], "failure");
    let mut lines = Vec::new();
    for (i, (m, _, body)) in calls.iter().enumerate() {
        if i > 0 {
            assert_eq!(m, "PATCH");
            assert_valid(body, false);
        }
        let a = body["output"]["annotations"].as_array().unwrap();
        assert!(a.len() <= 50);
        lines.extend(a.iter().map(|a| a["start_line"].as_u64().unwrap()));
    }
    assert_eq!(lines.len(), 120);
    lines.dedup();
    assert_eq!(lines.len(), 120, "each error once");
    // Under Actions the console keeps to the runner's 10 annotations per level.
    assert_eq!(r.stderr.matches("::error ").count(), 10);
    // The same specs through `init`: the same annotations, and nothing touches a cluster.
    let before = gh.requests().len();
    let r = run(&mut ws.action("init", &gh.api_url(), Path::new("/nonexistent")));
    assert_eq!(r.code, 2);
    let calls = gh.requests();
    assert_eq!(calls.len() - before, 3);
    assert_eq!(calls[before].2["name"], "canary-gate: init");
}

#[test]
fn a_long_summary_is_cut_below_the_limit_with_a_note() {
    use canary_gate::report::{Report, Section, Verdict, github, markdown};
    let mut r = Report::new("test/podinfo", "run");
    r.verdict = Some(Verdict::Promoted);
    r.sections.push(Section {
        title: "a lot".into(),
        body: "x".repeat(70_000),
    });
    assert!(markdown::render(&r).len() > 70_000);
    let bodies = github::completion_bodies(&r, "2026-11-25T12:00:00Z");
    let summary = bodies[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.chars().count() <= 65_535);
    assert!(summary.contains("_Truncated: "), "says so");
    assert_valid(&bodies[0], false);
    let create = github::create_body(&r, HEAD_SHA, None);
    assert_valid(&create, true);
}

#[test]
fn a_forbidden_or_unreachable_github_changes_nothing_but_says_so_once() {
    let gh = Github::start(201);
    let lab = lab(&gh.api_url());
    lab.release("ghcr.io/stefanprodan/podinfo:6.7.1", "0");
    let start = std::time::Instant::now();
    let baseline = lab.run(&gh.api_url());
    let baseline_time = start.elapsed();
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);

    // A fork's read-only token: 403 on create.
    let forbidden = Github::start(403);
    lab.release("ghcr.io/stefanprodan/podinfo:6.7.2", "0");
    let start = std::time::Instant::now();
    let r = lab.run(&forbidden.api_url());
    let forbidden_time = start.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same course (how many ticks waited for readiness is the cluster's timing, not ours).
    assert_eq!(course(&r), course(&baseline));
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("warning: check run"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(warnings[0].contains("403"), "{}", warnings[0]);
    assert_eq!(
        forbidden.requests().len(),
        1,
        "no retry of a 403, no updates after it"
    );

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    lab.release("ghcr.io/stefanprodan/podinfo:6.7.3", "0.5");
    let start = std::time::Instant::now();
    let r = lab.run(&dead);
    let dead_time = start.elapsed();
    assert_eq!(r.code, 1, "still rolled back: {}", r.stderr);
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("warning: check run"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(warnings[0].contains("unreachable"), "{}", warnings[0]);
    // The check-run budget for a 1s interval is 1s: at most one tick more than with GitHub up.
    let tick = std::time::Duration::from_secs(1);
    let slack = std::time::Duration::from_millis(1500);
    assert!(
        forbidden_time <= baseline_time + tick + slack,
        "{forbidden_time:?} vs {baseline_time:?}"
    );
    assert!(
        dead_time <= baseline_time + tick + slack,
        "{dead_time:?} vs {baseline_time:?}"
    );
    assert!(r.stdout.contains("Canary failed!"), "{}", r.stdout);
}

/// A Checks API that creates check runs but answers every update with `status` (and `headers`).
fn flaky_updates(
    rt: &tokio::runtime::Runtime,
    status: u16,
    headers: &[(&str, &str)],
) -> MockServer {
    rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v3/repos/o/r/check-runs"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": 77, "html_url": "https://github.com/o/r/runs/77"})),
            )
            .mount(&server)
            .await;
        let mut failing = ResponseTemplate::new(status)
            .set_body_json(json!({"message": "Server Error or rate limit"}));
        for (k, v) in headers {
            failing = failing.insert_header(*k, *v);
        }
        Mock::given(method("PATCH"))
            .respond_with(failing)
            .mount(&server)
            .await;
        server
    })
}

#[test]
fn github_errors_and_rate_limits_leave_the_rollout_as_it_is() {
    let gh = Github::start(201);
    let lab = lab(&gh.api_url());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reset = (std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    // (status of every update, its headers, the release's error rate, tag, expected exit code)
    type Case<'a> = (u16, Vec<(&'a str, &'a str)>, &'a str, &'a str, i32);
    let cases: [Case; 2] = [
        (502, vec![], "0", "6.7.1", 0),
        (
            403,
            vec![
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
            "0.5",
            "6.7.2",
            1,
        ),
    ];
    for (status, headers, error_rate, tag, code) in cases {
        let server = flaky_updates(&rt, status, &headers);
        let api = format!("{}/api/v3", server.uri());
        lab.release(&format!("ghcr.io/stefanprodan/podinfo:{tag}"), error_rate);
        let r = lab.run(&api);
        assert_eq!(r.code, code, "GitHub answering {status}: {}", r.stderr);
        let phase = lab.c.state("podinfo")["phase"].clone();
        assert_eq!(phase, if code == 0 { "Succeeded" } else { "Failed" });
        let warnings: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains("warning: check run"))
            .collect();
        assert_eq!(warnings.len(), 1, "warned once: {}", r.stderr);
        // Bounded by the ticks, not by the failures: one create, at most one update per tick
        // (three tries fit its 1 s budget), and the completion's tries within its 15 s.
        let requests = rt.block_on(server.received_requests()).unwrap_or_default();
        let bound = 1 + 3 * ticks(&r) + 12;
        assert!(
            requests.len() <= bound,
            "bounded: {} requests for {} ticks",
            requests.len(),
            ticks(&r)
        );
    }
}

#[test]
fn a_slow_github_still_gets_its_check_run_created_and_completed() {
    // Each answer takes twice the 1 s tick budget: updates may be skipped, the creation and the
    // completion wait for theirs.
    let gh = Github::start_slow(201, std::time::Duration::from_secs(2));
    let lab = lab(&gh.api_url());
    let before = gh.requests().len();
    lab.release("ghcr.io/stefanprodan/podinfo:6.7.1", "0");
    let r = lab.run(&gh.api_url());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = &gh.requests()[before..];
    let creates = calls.iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(creates, 1, "{}", r.stderr);
    let done: Vec<&Value> = calls
        .iter()
        .filter(|(m, _, b)| m == "PATCH" && b["status"] == "completed")
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(done.len(), 1, "{}", r.stderr);
    assert_eq!(done[0]["conclusion"], "success");
    assert!(!r.stderr.contains("creating the check run"), "{}", r.stderr);
}
