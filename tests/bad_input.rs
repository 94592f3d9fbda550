//! The bad input corpus: every way a command's input can be wrong, each case the real binary
//! against its own simulator holding the fixture app (fixtures/k8s/podinfo.yaml).
//!
//! What an input error must do (README: Exit codes): exit 2 — 3 when the cause is the
//! infrastructure (an API that does not answer or refuses the credentials) — say so in ONE error
//! line that names the file, field, flag or object, and write nothing to the cluster. The one
//! write a case may allow is the run lock (the Lease `canary-gate.<canary>`, taken and released)
//! when the command can only find the problem in the cluster, under the lock. Each case says
//! which writes it allows ([`Writes`]); a case that is not an input error (a metrics server or a
//! webhook failing during the analysis) says what it asserts instead.
//!
//! Each row of the table at the end becomes its own test, so a case that shows a product bug
//! whose fix lies outside this change is `#[ignore]`d by itself, with the reason, while asserting
//! the right behaviour. Each case starts its own simulator (milliseconds; nextest runs every test
//! in its own process, so there is nothing to share), which keeps every request log clean.

use crate::cluster::{Cluster, fast_canary};
use crate::support::{Run, canary_gate, root};
use base64::Engine;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest any case's command may run.
const LIMIT: Duration = Duration::from_secs(60);

/// What a case lets the command send to the cluster.
#[derive(Clone, Copy, Debug)]
enum Writes {
    /// Not one request: the input is refused before connecting.
    NoRequest,
    /// Reads only (the connection check, the objects looked at).
    ReadsOnly,
    /// Reads, and the run lock of this canary (the Lease created and deleted) and nothing else:
    /// the command finds the problem in the cluster, under the lock.
    Lock(&'static str),
    /// Anything: not an input error (a rollout whose checks fail); the case asserts the outcome.
    Rollout,
}

/// How the error must read.
#[derive(Clone, Copy, Debug)]
enum Says {
    /// Exactly one error line, holding the fragment.
    OneLine,
    /// Found while driving this canary: one line, its verdict on its `metadata.name` (the file
    /// and line of the spec), holding the fragment.
    Echoed(&'static str),
    /// Not an input error: the fragment is somewhere in the output.
    Output,
}

/// Where the kubeconfig comes from.
enum Kube {
    /// `--kubeconfig <the simulator's file>`.
    Sim,
    /// `INPUT_KUBECONFIG`: made from the simulator's kubeconfig text.
    Input(fn(&str) -> String),
    /// `KUBECONFIG` set to this (placeholders filled), no input.
    Env(&'static str),
}

/// One bad input and what it must do.
struct Case {
    /// Arguments (`{spec}`, `{dir}`, `{api}`, `{prometheus}`, `{html}`, `{hang}`, `{closed}` are filled in).
    args: Vec<String>,
    /// Extra environment.
    env: Vec<(String, String)>,
    /// Spec text written to `{dir}/canary.yaml` (`{spec}`), when the case has its own.
    spec: Option<Vec<u8>>,
    /// A fixture instead: its path and its `.expected` line.
    fixture: Option<(String, String)>,
    kube: Kube,
    /// Run the way the runner runs the container action: only `INPUT_*`/`GITHUB_*`, the
    /// workspace as working directory, the kubeconfig as base64 input.
    container: bool,
    /// The simulator requires this token.
    token: Option<&'static str>,
    /// Prepares the cluster (and files); by default creates the fixture app.
    setup: fn(&Cluster, &Ctx),
    code: i32,
    fragment: String,
    says: Says,
    writes: Writes,
    /// Clap's usage text may follow its error line.
    usage: bool,
    /// Must appear nowhere in the output (a credential).
    absent: Option<&'static str>,
}

/// What a case's setup and placeholders refer to.
struct Ctx {
    dir: PathBuf,
    spec: String,
}

/// `run --canary {spec}` with `text` as the spec.
fn spec(text: impl Into<Vec<u8>>) -> Case {
    Case {
        args: vec!["run".into(), "--canary".into(), "{spec}".into()],
        env: Vec::new(),
        spec: Some(text.into()),
        fixture: None,
        kube: Kube::Sim,
        container: false,
        token: None,
        setup: app,
        code: 2,
        fragment: String::new(),
        says: Says::OneLine,
        writes: Writes::NoRequest,
        usage: false,
        absent: None,
    }
}

/// `run --canary fixtures/canary/invalid/<name>.yaml`: its `.expected` line, exactly.
fn fixture(name: &str, fragment: &str) -> Case {
    let path = format!("fixtures/canary/invalid/{name}.yaml");
    let expected = std::fs::read_to_string(root().join(&path).with_extension("expected"))
        .unwrap_or_else(|e| panic!("{path}: its .expected sidecar: {e}"));
    let mut case = spec(Vec::new()).fails(2, fragment);
    case.spec = None;
    case.args = vec!["run".into(), "--canary".into(), path.clone()];
    case.fixture = Some((path, expected.trim().to_string()));
    case
}

/// The fixture app's canary: one 50% step every second, the simulator's metrics.
fn good() -> String {
    fast_canary("podinfo", "{prometheus}")
}

/// [`good`] with `from` replaced by `to`.
fn good_with(from: &str, to: &str) -> String {
    let text = good();
    assert!(text.contains(from), "{from:?} is not in the canary");
    text.replacen(from, to, 1)
}

/// The good canary with one bad input: `args` appended.
fn flags(args: &[&str]) -> Case {
    spec(good()).args(args)
}

impl Case {
    fn args(mut self, args: &[&str]) -> Case {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// `--canary` names this instead of the spec.
    fn canary(mut self, path: &str) -> Case {
        for a in &mut self.args {
            if a == "{spec}" {
                *a = path.into();
            }
        }
        self
    }

    /// Another command than `run`.
    fn command(mut self, name: &str) -> Case {
        self.args[0] = name.into();
        self
    }

    fn env(mut self, key: &str, value: &str) -> Case {
        self.env.push((key.into(), value.into()));
        self
    }

    fn kube(mut self, kube: Kube) -> Case {
        self.kube = kube;
        self
    }

    /// As the action runs it: no arguments, the command and the spec as inputs.
    fn container(mut self) -> Case {
        self.container = true;
        self.args.clear();
        self.env.push(("INPUT_CANARY".into(), "canary.yaml".into()));
        self
    }

    fn token(mut self, token: &'static str) -> Case {
        self.token = Some(token);
        self
    }

    fn setup(mut self, setup: fn(&Cluster, &Ctx)) -> Case {
        self.setup = setup;
        self
    }

    fn fails(mut self, code: i32, fragment: &str) -> Case {
        self.code = code;
        self.fragment = fragment.into();
        self
    }

    fn echoed(mut self, canary: &'static str) -> Case {
        self.says = Says::Echoed(canary);
        self
    }

    fn output(mut self) -> Case {
        self.says = Says::Output;
        self
    }

    fn writes(mut self, writes: Writes) -> Case {
        self.writes = writes;
        self
    }

    fn usage(mut self) -> Case {
        self.usage = true;
        self
    }

    fn absent(mut self, secret: &'static str) -> Case {
        self.absent = Some(secret);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Setups

/// The fixture app, unchanged.
fn app(c: &Cluster, _: &Ctx) {
    c.podinfo(|_| {});
}

/// The fixture app, initialized by `init` with the case's spec (then the log is cleared).
fn initialized(c: &Cluster, ctx: &Ctx) {
    app(c, ctx);
    let r = c.canary_gate(&["init", "--canary", &ctx.spec]);
    assert_eq!(r.code, 0, "init for the setup:\n{}\n{}", r.stdout, r.stderr);
}

/// Initialized, then a release (a new image) waiting for `run`.
fn released(c: &Cluster, ctx: &Ctx) {
    initialized(c, ctx);
    c.patch_deployment(
        "podinfo",
        &json!({"spec": {"template": {"spec": {"containers": [
            {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}]}}}}),
    );
}

/// The app, and a Deployment `bare` whose selector has none of the selector label keys.
fn bare_target(c: &Cluster, ctx: &Ctx) {
    app(c, ctx);
    c.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bare", "namespace": "test"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"tier": "web"}},
            "template": {"metadata": {"labels": {"tier": "web"}},
                "spec": {"containers": [{"name": "bare", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                    "ports": [{"name": "http", "containerPort": 9898}]}]}}}}));
}

/// The app, and an Ingress `other` that routes to another Service only.
fn other_ingress(c: &Cluster, ctx: &Ctx) {
    app(c, ctx);
    c.create(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "other", "namespace": "test"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "other.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "elsewhere", "port": {"number": 80}}}}]}}]}}));
}

/// The app without the ConfigMap its Deployment reads its environment from.
fn config_missing(c: &Cluster, _: &Ctx) {
    c.podinfo(|o| {
        if o["kind"] == "ConfigMap" && o["metadata"]["name"] == "podinfo-config" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
}

/// The app and an empty directory `{dir}/empty`.
fn empty_dir(c: &Cluster, ctx: &Ctx) {
    app(c, ctx);
    std::fs::create_dir(ctx.dir.join("empty")).unwrap();
}

/// The app and `{dir}/deploy.yaml` holding only a Deployment.
fn no_flagger_objects(c: &Cluster, ctx: &Ctx) {
    app(c, ctx);
    std::fs::write(
        ctx.dir.join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: podinfo}\n",
    )
    .unwrap();
}

/// The app and three files for `--apply`: a manifest without a name, broken YAML, a binary.
fn apply_files(c: &Cluster, ctx: &Ctx) {
    app(c, ctx);
    std::fs::write(
        ctx.dir.join("noname.yaml"),
        "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
    )
    .unwrap();
    std::fs::write(ctx.dir.join("broken.yaml"), "apiVersion: v1\ndata: [\n").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Servers the cases point at: 127.0.0.1 only, stopped when the case ends (and after `LIMIT`).

struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// `answer`: what to do with each accepted connection (`None`: hold it open, never answer).
    fn start(answer: Option<fn(&mut TcpStream)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) && started.elapsed() < LIMIT {
                match listener.accept() {
                    Ok((mut s, _)) => match answer {
                        Some(f) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                            f(&mut s);
                        }
                        None => held.push(s),
                    },
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers any request with 200 and an HTML page (a login page where Prometheus should be).
fn html_page(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    let body = "<html><body>Sign in</body></html>";
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A 127.0.0.1 port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// Running a case

fn check(name: &str, case: Case) {
    let c = Cluster::with_token(case.token);
    let dir = tempfile::tempdir().unwrap();
    let spec_path = match (&case.spec, &case.fixture) {
        (_, Some((path, _))) => path.clone(),
        _ => dir
            .path()
            .join("canary.yaml")
            .to_string_lossy()
            .into_owned(),
    };
    let ctx = Ctx {
        dir: dir.path().to_path_buf(),
        spec: spec_path.clone(),
    };
    let kubeconfig_text = std::fs::read_to_string(&c.sim.kubeconfig).unwrap();
    let input_kubeconfig = match &case.kube {
        Kube::Input(make) => Some(make(&kubeconfig_text)),
        _ => None,
    };
    let mentioned = |p: &str| {
        case.args.iter().any(|a| a.contains(p))
            || case.env.iter().any(|(_, v)| v.contains(p))
            || input_kubeconfig.as_deref().is_some_and(|k| k.contains(p))
            || matches!(case.kube, Kube::Env(k) if k.contains(p))
            || case
                .spec
                .as_deref()
                .is_some_and(|s| String::from_utf8_lossy(s).contains(p))
    };
    let html = mentioned("{html}").then(|| Server::start(Some(html_page)));
    let hang = mentioned("{hang}").then(|| Server::start(None));
    let closed = closed_port();
    let fill = |s: &str| {
        let mut s = s
            .replace("{spec}", &spec_path)
            .replace("{dir}", &dir.path().to_string_lossy())
            .replace("{prometheus}", &c.sim.prometheus_url())
            .replace("{api}", &c.sim.api_url)
            .replace("{closed}", &closed.to_string());
        if let Some(h) = &html {
            s = s.replace("{html}", &format!("http://127.0.0.1:{}", h.port));
        }
        if let Some(h) = &hang {
            s = s.replace("{hang}", &format!("http://127.0.0.1:{}/", h.port));
        }
        s
    };
    if let Some(text) = &case.spec {
        let text = match std::str::from_utf8(text) {
            Ok(t) => fill(t).into_bytes(),
            Err(_) => text.clone(),
        };
        std::fs::write(&spec_path, text).unwrap();
    }
    (case.setup)(&c, &ctx);
    c.sim.clear_requests();

    let mut cmd = if case.container {
        container_command(dir.path())
    } else {
        let mut cmd = canary_gate();
        // Nothing of the machine's own cluster access may leak in.
        cmd.env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("HOME", dir.path());
        cmd
    };
    cmd.args(case.args.iter().map(|a| fill(a)));
    for (k, v) in &case.env {
        cmd.env(k, fill(v));
    }
    match (&case.kube, case.container) {
        (Kube::Sim, false) => {
            cmd.arg("--kubeconfig").arg(&c.sim.kubeconfig);
        }
        (Kube::Sim, true) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&kubeconfig_text);
            cmd.env("INPUT_KUBECONFIG", b64);
        }
        (Kube::Input(_), _) => {
            cmd.env(
                "INPUT_KUBECONFIG",
                fill(input_kubeconfig.as_deref().unwrap()),
            );
        }
        (Kube::Env(path), _) => {
            cmd.env("KUBECONFIG", fill(path));
        }
    }
    let fragment = fill(&case.fragment);
    let shown = format!("{cmd:?}");
    let started = Instant::now();
    let r = run_bounded(&mut cmd);
    let took = started.elapsed();
    let requests = c.sim.requests();
    drop((html, hang));

    let report = |what: &str| -> String {
        let log: Vec<String> = requests
            .iter()
            .map(|e| format!("{} {} -> {}", e.method, e.path, e.status))
            .collect();
        format!(
            "case {name}: {what}\ncommand: {shown}\nexit: {} after {took:?}\n--- stdout\n{}\n--- stderr\n{}\n--- requests\n{}",
            r.code,
            r.stdout,
            r.stderr,
            log.join("\n")
        )
    };

    assert!(
        r.code != 101 && !r.stderr.contains("panicked at"),
        "{}",
        report("the binary panicked")
    );
    assert_eq!(r.code, case.code, "{}", report("wrong exit code"));
    if let Some(secret) = case.absent {
        // Only to mask it (under Actions) may a credential be printed.
        let shown = |text: &str| {
            text.lines()
                .any(|l| l.contains(secret) && l != format!("::add-mask::{secret}"))
        };
        assert!(
            !shown(&r.stdout) && !shown(&r.stderr),
            "{}",
            report(&format!("{secret:?} was printed"))
        );
    }

    let errors: Vec<&str> = r.stderr.lines().filter(|l| is_error_line(l)).collect();
    match case.says {
        Says::OneLine => {
            assert_eq!(errors.len(), 1, "{}", report("not exactly one error line"));
            assert!(
                errors[0].contains(&fragment),
                "{}",
                report(&format!("the error line does not say {fragment:?}"))
            );
            if let Some((_, expected)) = &case.fixture {
                assert_eq!(errors[0], expected, "{}", report("not the .expected line"));
            }
        }
        Says::Echoed(canary) => {
            assert_eq!(
                errors.len(),
                1,
                "{}",
                report("not one line: the canary's verdict on its spec")
            );
            let (_, message) = errors[0]
                .split_once(&format!(": error: metadata.name: {canary}: "))
                .unwrap_or_else(|| {
                    panic!("{}", report("not the canary's verdict on metadata.name"))
                });
            assert!(
                message.contains(&fragment),
                "{}",
                report(&format!("the error line does not say {fragment:?}"))
            );
        }
        Says::Output => {
            assert!(
                r.stdout.contains(&fragment) || r.stderr.contains(&fragment),
                "{}",
                report(&format!("the output does not say {fragment:?}"))
            );
        }
    }
    if !case.usage && !matches!(case.says, Says::Output) {
        let stray: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| !is_error_line(l) && !is_known_line(l))
            .collect();
        assert!(
            stray.is_empty(),
            "{}",
            report(&format!("the error runs over several lines: {stray:#?}"))
        );
    }

    let writes: Vec<String> = requests
        .iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    match case.writes {
        Writes::NoRequest => {
            assert!(
                requests.is_empty(),
                "{}",
                report("the cluster was contacted")
            )
        }
        Writes::ReadsOnly => assert!(writes.is_empty(), "{}", report("the cluster was written")),
        Writes::Lock(canary) => {
            let lease = format!("/leases/canary-gate.{canary}");
            let only_lock = writes.iter().all(|w| {
                let (method, path) = w.split_once(' ').unwrap_or_default();
                path.starts_with("/apis/coordination.k8s.io/v1/namespaces/")
                    && match method {
                        "POST" => path.ends_with("/leases"),
                        "PUT" | "DELETE" => path.ends_with(&lease),
                        _ => false,
                    }
            });
            assert!(
                only_lock,
                "{}",
                report("the cluster was written beyond the run lock")
            );
            let lease = format!("canary-gate.{canary}");
            assert!(
                c.find("coordination.k8s.io/v1", "Lease", &lease).is_none(),
                "{}",
                report("the run lock was left behind")
            );
        }
        Writes::Rollout => {}
    }
}

/// An error line: a diagnostic, the command's error, or clap's.
fn is_error_line(l: &str) -> bool {
    l.contains(": error: ") || l.starts_with("canary-gate: error:") || l.starts_with("error: ")
}

/// Lines that may accompany the error: spec warnings and notices, progress logs, the runner's
/// workflow commands.
fn is_known_line(l: &str) -> bool {
    let t = l.trim_start();
    l.contains(": warning: ")
        || l.contains(": notice: ")
        || l.starts_with("canary-gate: warning:")
        || l.starts_with("::")
        || ["INFO ", "WARN ", "DEBUG ", "TRACE "]
            .iter()
            .any(|p| t.starts_with(p))
}

/// The binary the way the runner starts the container action (see tests/container.rs).
fn container_command(ws: &Path) -> Command {
    let mut cmd = crate::container::as_container_action(ws, &[]);
    cmd.env_remove("INPUT_CANARY").env("HOME", ws);
    cmd
}

/// Runs `cmd`, killing it after [`LIMIT`] (exit code -1 then).
fn run_bounded(cmd: &mut Command) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// Kubeconfigs

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A kubeconfig for `server` with `token`, placeholders allowed.
fn kubeconfig_for(server: &str, token: &str) -> String {
    canary_gate_sim::kubeconfig_yaml(server, token)
}

// ---------------------------------------------------------------------------------------------
// The table

macro_rules! cases {
    ($( $(#[$attr:meta])* $name:ident => $case:expr; )*) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                check(stringify!($name), $case);
            }
        )*

        /// Every case's name.
        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

#[test]
fn the_corpus_covers_every_invalid_fixture() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let missing: Vec<String> = crate::support::fixtures("fixtures/canary/invalid")
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().replace('-', "_"))
        .filter(|n| !CASES.contains(&format!("fixture_{n}").as_str()))
        .collect();
    assert!(missing.is_empty(), "fixtures without a case: {missing:?}");
}

cases! {
    // --- fixtures/canary/invalid: each file through `run`; refused before connecting. -------
    fixture_alert_provider_address_and_secret => fixture("alert-provider-address-and-secret", "spec.secretRef: cannot be combined with address");
    fixture_analysis_without_steps => fixture("analysis-without-steps", "spec.analysis: set one of iterations (A/B, blue/green), stepWeight or stepWeights");
    fixture_api_version_old => fixture("api-version-old", "apiVersion: \"flagger.app/v1alpha3\" is not supported");
    fixture_custom_metric_without_query => fixture("custom-metric-without-query", "spec.analysis.metrics[0].name: \"error-rate\" is not a built-in");
    fixture_gatewayapi_without_gateway_refs => fixture("gatewayapi-without-gateway-refs", "spec.service.gatewayRefs: required by provider gatewayapi:v1");
    fixture_gatewayapi_filters => fixture("gatewayapi-filters", "spec.service.mirror[0].backendRef: port is required");
    fixture_service_target_name_differs => fixture("service-target-name-differs", "spec.service.name: \"backend-apex\" differs from the Service target");
    fixture_hpa_min_above_max => fixture("hpa-min-above-max", "spec.autoscalerRef.primaryScalerReplicas.minReplicas: 5 is greater than maxReplicas 2");
    fixture_ingress_ref_wrong_kind => fixture("ingress-ref-wrong-kind", "spec.ingressRef.kind: \"Service\" is not supported");
    fixture_interval_in_hours => fixture("interval-in-hours", "spec.analysis.interval: \"1h\" must start with a number");
    fixture_interval_not_a_duration => fixture("interval-not-a-duration", "spec.analysis.interval: \"30 seconds\" is not a duration");
    fixture_interval_zero => fixture("interval-zero", "spec.analysis.interval: must be greater than 0");
    fixture_iterations_and_step_weight => fixture("iterations-and-step-weight", "spec.analysis.stepWeight: cannot be combined with iterations");
    fixture_kind_typo => fixture("kind-typo", "kind: \"Canery\" is not a flagger.app kind");
    fixture_knative_target_with_nginx => fixture("knative-target-with-nginx", "spec.provider: a Knative Service target needs provider: knative");
    fixture_match_two_conditions => fixture("match-two-conditions", "spec.analysis.match[0].headers.x-canary: set exactly one");
    fixture_max_weight_over_100 => fixture("max-weight-over-100", "spec.analysis.maxWeight: 150 is out of range");
    fixture_metadata_name_invalid => fixture("metadata-name-invalid", "metadata.name: \"PodInfo\" is not a valid object name");
    fixture_metadata_name_missing => fixture("metadata-name-missing", "metadata.name: required field is missing");
    fixture_metric_interval_invalid => fixture("metric-interval-invalid", "spec.analysis.metrics[0].interval: \"one minute\" is not a duration");
    fixture_metrics_not_a_list => fixture("metrics-not-a-list", "spec.analysis.metrics: expected a list, found string");
    fixture_metrics_server_not_a_url => fixture("metrics-server-not-a-url", "spec.metricsServer: \"prometheus:9090\" is not an http(s) URL");
    fixture_nginx_without_ingress_ref => fixture("nginx-without-ingress-ref", "spec.ingressRef: required by provider nginx");
    fixture_not_a_mapping => fixture("not-a-mapping", "expected a Kubernetes object (a mapping), found a list");
    fixture_port_out_of_range => fixture("port-out-of-range", "spec.service.port: 70000 is out of range");
    fixture_progress_deadline_zero => fixture("progress-deadline-zero", "spec.progressDeadlineSeconds: 0 is out of range");
    fixture_provider_typo => fixture("provider-typo", "spec.provider: \"ngnix\" is not one of");
    fixture_service_name_too_long => fixture("service-name-too-long", "-service\" cannot name Services");
    fixture_service_port_missing => fixture("service-port-missing", "spec.service.port: required field is missing");
    fixture_session_affinity_same_cookies => fixture("session-affinity-same-cookies", "spec.analysis.sessionAffinity.primaryCookieName: must differ from cookieName");
    fixture_session_affinity_same_site_case => fixture("session-affinity-same-site-case", "spec.analysis.sessionAffinity.sameSite: \"lax\" is not one of");
    fixture_spec_missing => fixture("spec-missing", "spec: required field is missing");
    fixture_step_weight_and_step_weights => fixture("step-weight-and-step-weights", "spec.analysis.stepWeights: cannot be combined with stepWeight");
    fixture_step_weight_zero => fixture("step-weight-zero", "spec.analysis.stepWeight: 0 must be greater than 0");
    fixture_step_weights_empty => fixture("step-weights-empty", "spec.analysis.stepWeights: must list at least one weight");
    fixture_step_weights_not_a_number => fixture("step-weights-not-a-number", "spec.analysis.stepWeights[1]: expected an integer, found string");
    fixture_step_weights_not_increasing => fixture("step-weights-not-increasing", "spec.analysis.stepWeights[2]: 20 is not greater than the previous weight 50");
    fixture_target_kind_unsupported => fixture("target-kind-unsupported", "spec.targetRef.kind: \"StatefulSet\" is not one of");
    fixture_target_name_missing => fixture("target-name-missing", "spec.targetRef.name: required field is missing");
    fixture_target_port_name_invalid => fixture("target-port-name-invalid", "spec.service.targetPort: \"HTTP_PORT\" is not a valid container port name");
    fixture_target_ref_missing => fixture("target-ref-missing", "spec.targetRef: required field is missing");
    fixture_template_metrics_auth_unknown => fixture("template-metrics-auth-unknown", "metadata.annotations[\"canary-gate.dev/metrics-auth\"]: \"sigv5\" is not one of none, aws-sigv4, google, azure");
    fixture_template_provider_type_typo => fixture("template-provider-type-typo", "spec.provider.type: \"promethues\" is not one of");
    fixture_template_query_missing => fixture("template-query-missing", "spec.query: required field is missing");
    fixture_template_unknown_function => fixture("template-unknown-function", "spec.query: {{ namespce }} is not a template function");
    fixture_template_variable_missing => fixture("template-variable-missing", "spec.analysis.metrics[0].templateVariables: MetricTemplate");
    fixture_threshold_missing => fixture("threshold-missing", "spec.analysis.threshold: required field is missing");
    fixture_threshold_not_a_number => fixture("threshold-not-a-number", "spec.analysis.threshold: expected an integer, found string \"5\"");
    fixture_threshold_range_empty => fixture("threshold-range-empty", "spec.analysis.metrics[0].thresholdRange: set min, max or both");
    fixture_threshold_range_inverted => fixture("threshold-range-inverted", "spec.analysis.metrics[0].thresholdRange.min: 99 is greater than max 90");
    fixture_unknown_field_in_spec => fixture("unknown-field-in-spec", "spec.stepWeight: unknown field \"stepWeight\"");
    fixture_unknown_field_typo => fixture("unknown-field-typo", "spec.analysis.intervall: unknown field \"intervall\"; did you mean \"interval\"?");
    fixture_webhook_metadata_number => fixture("webhook-metadata-number", "spec.analysis.webhooks[0].metadata.retries: expected a string");
    fixture_webhook_timeout_number => fixture("webhook-timeout-number", "spec.analysis.webhooks[0].timeout: expected a string");
    fixture_webhook_type_typo => fixture("webhook-type-typo", "spec.analysis.webhooks[0].type: \"pre-rolout\" is not one of");
    fixture_webhook_url_invalid => fixture("webhook-url-invalid", "spec.analysis.webhooks[0].url: \"tester.test/run\" is not a URL");
    fixture_webhook_url_missing => fixture("webhook-url-missing", "spec.analysis.webhooks[0].url: required field is missing");
    fixture_yaml_duplicate_key => fixture("yaml-duplicate-key", "invalid YAML: duplicate mapping key: threshold");
    fixture_yaml_missing_colon => fixture("yaml-missing-colon", "invalid YAML: expected \"key: value\", found \"interval 1m\"");
    fixture_yaml_syntax_error => fixture("yaml-syntax-error", "invalid YAML: '[' is never closed");
    fixture_yaml_tab_indent => fixture("yaml-tab-indent", "invalid YAML: tabs disallowed within this context");
    fixture_yaml_unclosed_quote => fixture("yaml-unclosed-quote", "invalid YAML: unclosed quote");

    // --- the fixture app's canary, malformed: refused before connecting. ----------------------
    spec_empty_file => spec("")
        .fails(2, "canary.yaml: no flagger.app/v1beta1 Canary, MetricTemplate or AlertProvider found");
    spec_only_comments => spec("# nothing yet\n---\n")
        .fails(2, "canary.yaml: no flagger.app/v1beta1 Canary");
    spec_binary_garbage => spec(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd".to_vec())
        .fails(2, "canary.yaml: not UTF-8 text");
    spec_control_characters => spec("\x01\x02\x03 kind: [\x07\n")
        .fails(2, "canary.yaml:1:1: error: invalid YAML: unexpected character");
    spec_tab_indentation => spec(good_with("  provider: nginx", "\tprovider: nginx"))
        .fails(2, "canary.yaml:5:2: error: invalid YAML: tabs disallowed within this context");
    spec_unclosed_flow_mapping => spec(good_with("namespace: test}", "namespace: test"))
        .fails(2, "canary.yaml:3:11: error: invalid YAML: '{' is never closed");
    spec_duplicate_key => spec(good_with("    threshold: 2\n", "    threshold: 2\n    threshold: 3\n"))
        .fails(2, "invalid YAML: duplicate mapping key: threshold");
    spec_scalar_document => spec("\"podinfo\"\n")
        .fails(2, "expected a Kubernetes object (a mapping), found string \"podinfo\"");
    spec_port_not_a_number => spec(good_with("port: 80,", "port: eighty,"))
        .fails(2, "spec.service.port: expected an integer, found string \"eighty\"");
    spec_skip_analysis_not_a_boolean => spec(good_with("  provider: nginx\n", "  provider: nginx\n  skipAnalysis: \"yes\"\n"))
        .fails(2, "spec.skipAnalysis: expected a boolean, found string \"yes\"");
    spec_target_ref_field_typo => spec(good_with("Deployment, name: podinfo", "Deployment, nmae: podinfo"))
        .fails(2, "spec.targetRef.nmae: unknown field \"nmae\"; did you mean \"name\"?");
    spec_service_field_typo => spec(good_with("targetPort: 9898", "targetport: 9898"))
        .fails(2, "spec.service.targetport: unknown field \"targetport\"; did you mean \"targetPort\"?");
    spec_step_weights_repeat => spec(good_with("    stepWeight: 50\n    maxWeight: 50\n", "    stepWeights: [10, 10]\n"))
        .fails(2, "spec.analysis.stepWeights[1]: 10 is not greater than the previous weight 10");
    spec_max_weight_101 => spec(good_with("maxWeight: 50", "maxWeight: 101"))
        .fails(2, "spec.analysis.maxWeight: 101 is out of range");
    spec_iterations_with_step_weight => spec(good_with("    stepWeight: 50\n", "    stepWeight: 50\n    iterations: 3\n"))
        .fails(2, "spec.analysis.stepWeight: cannot be combined with iterations");
    spec_same_session_cookies => spec(good_with("    maxWeight: 50\n", "    maxWeight: 50\n    sessionAffinity: {cookieName: user, primaryCookieName: user}\n"))
        .fails(2, "spec.analysis.sessionAffinity.primaryCookieName: must differ from cookieName \"user\"");
    spec_gatewayapi_with_an_ingress_ref => spec(good_with("provider: nginx", "provider: gatewayapi:v1"))
        .fails(2, "spec.service.gatewayRefs: required by provider gatewayapi:v1");
    spec_provider_not_driven => spec(good_with("provider: nginx", "provider: osm"))
        .fails(2, "canary podinfo: provider osm is not driven by canary-gate (its mesh is gone");
    spec_istio_delegate_with_hosts => spec(good_with("provider: nginx", "provider: istio").replace("port: 80,", "port: 80, delegation: true, hosts: [app.example.com],"))
        .fails(2, "spec.service.delegation: a delegate VirtualService cannot have hosts or gateways");
    spec_one_bad_canary_stops_both => spec(format!("{}---\n{}", good(), good_with("name: podinfo, namespace", "name: podinfo-b, namespace").replace("interval: 1s", "interval: soon")))
        .fails(2, "canary.yaml:28:15: error: spec.analysis.interval: \"soon\" is not a duration");

    // --- flags and inputs: refused before connecting. ------------------------------------------
    input_command_dance => spec(good())
        .container()
        .env("INPUT_COMMAND", "dance")
        .fails(2, "unknown command \"dance\" in the `command` input (INPUT_COMMAND)");
    subcommand_dance => flags(&[])
        .command("dance")
        .fails(2, "unrecognized subcommand 'dance'")
        .usage();
    timeout_flag_soon => flags(&["--timeout", "soon"])
        .fails(2, "input timeout: \"soon\" is not a positive duration");
    input_timeout_soon => spec(good())
        .container()
        .env("INPUT_TIMEOUT", "soon")
        .fails(2, "input timeout: \"soon\" is not a positive duration");
    timeout_zero => flags(&["--timeout", "0s"])
        .fails(2, "input timeout: \"0s\" is not a positive duration");
    max_parallel_zero => flags(&["--max-parallel", "0"])
        .fails(2, "input max-parallel: \"0\" is not a positive number");
    input_max_parallel_zero => spec(good())
        .container()
        .env("INPUT_MAX-PARALLEL", "0")
        .fails(2, "input max-parallel: \"0\" is not a positive number");
    max_parallel_negative => flags(&["--max-parallel=-3"])
        .fails(2, "input max-parallel: \"-3\" is not a positive number");
    lock_timeout_forever => flags(&["--lock-timeout", "forever"])
        .fails(2, "--lock-timeout: \"forever\" is not a duration");
    selector_labels_empty => flags(&["--selector-labels", ","])
        .fails(2, "--selector-labels: at least one label key is needed");
    fail_fast_maybe => flags(&["--fail-fast=maybe"])
        .fails(2, "input fail-fast: \"maybe\" is not true or false");
    metrics_server_ftp => flags(&["--metrics-server", "ftp://prometheus:9090"])
        .fails(2, "input metrics-server: \"ftp://prometheus:9090\" is not an http(s) URL");
    log_level_loud => spec(good())
        .env("INPUT_LOG-LEVEL", "loud")
        .fails(2, "invalid value 'loud' for '--log-level <LOG_LEVEL>'")
        .usage();
    image_without_container => flags(&["--image", "podinfo:6.7.1"])
        .fails(2, "input image: \"podinfo:6.7.1\" is not CONTAINER=IMAGE");
    step_until_weight_150 => flags(&[])
        .command("step")
        .env("INPUT_UNTIL-WEIGHT", "150")
        .fails(2, "input until-weight: \"150\" is not a weight from 0 to 100");
    canary_file_missing => flags(&[])
        .canary("{dir}/nope.yaml")
        .fails(2, "/nope.yaml: No such file or directory");
    canary_input_empty => spec(good())
        .container()
        .env("INPUT_CANARY", "")
        .fails(2, "nothing to drive: pass spec files or directories, or set the `canary` input");
    canary_directory_without_specs => flags(&[])
        .setup(empty_dir)
        .canary("{dir}/empty")
        .fails(2, "/empty: no .yaml, .yml or .json files");
    canary_without_flagger_objects => flags(&[])
        .setup(no_flagger_objects)
        .canary("{dir}/deploy.yaml")
        .fails(2, "deploy.yaml: no flagger.app/v1beta1 Canary, MetricTemplate or AlertProvider found");
    apply_missing_file => flags(&["--apply", "{dir}/missing.yaml"])
        .fails(2, "input apply: {dir}/missing.yaml: No such file or directory");
    apply_manifest_without_name => flags(&["--apply", "{dir}/noname.yaml"])
        .setup(apply_files)
        .fails(2, "input apply: {dir}/noname.yaml: every document needs apiVersion, kind and metadata.name");
    apply_invalid_yaml => flags(&["--apply", "{dir}/broken.yaml"])
        .setup(apply_files)
        .fails(2, "input apply: {dir}/broken.yaml: invalid YAML: line 2 column 7: unclosed bracket '['");
    step_apply_missing_file => flags(&["--apply", "{dir}/missing.yaml"])
        .command("step")
        .fails(2, "input apply: {dir}/missing.yaml: No such file or directory");

    // --- kubeconfigs: refused before any request, or exit 3 naming the server. ----------------
    kubeconfig_garbage_text => flags(&[])
        .kube(Kube::Input(|_| "garbage: [unclosed".into()))
        .fails(2, "input kubeconfig: not an existing file, kubeconfig YAML or base64-encoded kubeconfig (the value is not shown)")
        .absent("unclosed");
    kubeconfig_garbage_lines => flags(&[])
        .kube(Kube::Input(|_| "just some\ntext lines\n".into()))
        .fails(2, "the kubeconfig input: not a valid kubeconfig (YAML)")
        .absent("text lines");
    kubeconfig_wrong_base64 => spec(good())
        .container()
        .kube(Kube::Input(|_| "%%%bm90IGJhc2U2NA%%%".into()))
        .fails(2, "input kubeconfig: not an existing file, kubeconfig YAML or base64-encoded kubeconfig");
    kubeconfig_base64_of_something_else => spec(good())
        .container()
        .kube(Kube::Input(|_| b64("hello, world\n")))
        .fails(2, "input kubeconfig: not an existing file, kubeconfig YAML or base64-encoded kubeconfig");
    kubeconfig_base64_of_a_broken_kubeconfig => spec(good())
        .container()
        .kube(Kube::Input(|_| b64(&kubeconfig_for("http://127.0.0.1:9", "tok-5e6f7a8b9c").replace("clusters:\n", "clusters: 5\nx:\n"))))
        .fails(2, "the kubeconfig input: failed to parse kubeconfig YAML: error: line 3 column 11: expected sequence start")
        .absent("tok-5e6f7a8b9c");
    kubeconfig_parse_error_keeps_the_token_secret => flags(&[])
        .kube(Kube::Input(|_| kubeconfig_for("http://127.0.0.1:{closed}", "tok-9f8e7d6c5b\n    username: [a, b]")))
        .fails(2, "the kubeconfig input: failed to parse kubeconfig YAML")
        .absent("tok-9f8e7d6c5b");
    kubeconfig_unknown_context => flags(&["--context", "nope"])
        .fails(2, "--context \"nope\" is not a context of the kubeconfig (it has: canary-sim)");
    kubeconfig_current_context_missing => flags(&[])
        .kube(Kube::Input(|kc| kc.replace("current-context: canary-sim", "current-context: staging")))
        .fails(2, "the kubeconfig input: current-context \"staging\" is not a context of the kubeconfig (it has: canary-sim)");
    kubeconfig_without_current_context => flags(&[])
        .kube(Kube::Input(|kc| kc.replace("current-context: canary-sim\n", "")))
        .fails(2, "the kubeconfig input: no current-context is set: pass --context (it has: canary-sim)");
    kubeconfig_path_missing => flags(&[])
        .kube(Kube::Env("{dir}/nope/kubeconfig"))
        .fails(2, "KUBECONFIG points at {dir}/nope/kubeconfig, which does not exist");
    kubeconfig_server_not_a_url => flags(&[])
        .kube(Kube::Input(|_| kubeconfig_for("\"::not a url::\"", "token-of-the-sim")))
        .fails(2, "the kubeconfig input: failed to parse cluster url");
    kubeconfig_exec_plugin_missing => flags(&[])
        .kube(Kube::Input(|kc| kc.lines().map(|l| match l.starts_with("    token: ") {
            true => "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin-not-installed".to_string(),
            false => l.to_string(),
        }).collect::<Vec<_>>().join("\n") + "\n"))
        .fails(2, "user \"canary-sim\" authenticates with the exec plugin \"kubelogin-not-installed\", which is not on PATH");
    api_unreachable => flags(&[])
        .kube(Kube::Input(|_| kubeconfig_for("http://127.0.0.1:{closed}", "t")))
        .fails(3, "the Kubernetes API at http://127.0.0.1:{closed}/ is unreachable");
    api_rejects_the_token => flags(&[])
        .token("the-right-token")
        .kube(Kube::Input(|kc| kc.replace("the-right-token", "an-expired-token")))
        .fails(3, "refused the kubeconfig's credentials (401 Unauthorized)")
        .writes(Writes::ReadsOnly)
        .absent("an-expired-token");

    // --- the cluster disagrees with the spec: found under the run lock. ------------------------
    target_deployment_missing => spec(good_with("Deployment, name: podinfo", "Deployment, name: nope"))
        .fails(2, "deployment/nope (spec.targetRef) does not exist in namespace test")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    target_service_missing => spec("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: backend, namespace: test}\nspec:\n  provider: kubernetes\n  targetRef: {apiVersion: v1, kind: Service, name: backend}\n  service: {port: 8080}\n  analysis: {interval: 10s, threshold: 2, iterations: 2}\n")
        .fails(2, "service/backend (spec.targetRef) does not exist in namespace test")
        .echoed("backend")
        .writes(Writes::Lock("backend"));
    target_daemonset_missing => spec(good_with("kind: Deployment", "kind: DaemonSet"))
        .fails(2, "daemonset/podinfo (spec.targetRef) does not exist in namespace test")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    target_without_selector_label => spec(good_with("Deployment, name: podinfo", "Deployment, name: bare"))
        .setup(bare_target)
        .fails(2, "deployment/bare: spec.selector.matchLabels must contain one of [app, name, app.kubernetes.io/name] (--selector-labels)")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    target_without_the_flagged_selector_label => flags(&["--selector-labels", "team"])
        .fails(2, "deployment/podinfo: spec.selector.matchLabels must contain one of [team] (--selector-labels)")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    init_target_deployment_missing => spec(good_with("Deployment, name: podinfo", "Deployment, name: nope"))
        .command("init")
        .fails(2, "deployment/nope (spec.targetRef) does not exist in namespace test")
        .writes(Writes::Lock("podinfo"));
    rollback_target_deployment_missing => spec(good_with("Deployment, name: podinfo", "Deployment, name: nope"))
        .command("rollback")
        .fails(2, "deployment/nope (spec.targetRef) does not exist in namespace test")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    image_names_no_container_once_initialized => flags(&["--image", "nginx=nginx:1.27"])
        .setup(initialized)
        .fails(2, "--image: deployment/podinfo has no container \"nginx\" (it has: podinfo)")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    image_names_no_container => flags(&["--image", "nginx=nginx:1.27"])
        .fails(2, "--image: deployment/podinfo has no container \"nginx\" (it has: podinfo)")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    ingress_missing => spec(good_with("Ingress, name: podinfo", "Ingress, name: nope"))
        .fails(2, "ingress/nope (spec.ingressRef) does not exist in namespace test")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    ingress_without_the_apex_backend => spec(good_with("Ingress, name: podinfo", "Ingress, name: other"))
        .setup(other_ingress)
        .fails(2, "ingress/other: backend podinfo not found in ingress other")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    autoscaler_missing => spec(good_with("  ingressRef:", "  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: nope}\n  ingressRef:"))
        .fails(2, "horizontalpodautoscaler/nope (spec.autoscalerRef) does not exist in namespace test")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    tracked_config_missing => spec(good())
        .setup(config_missing)
        .fails(2, "configmap/podinfo-config in namespace test, referenced by deployment/podinfo, does not exist")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    target_port_name_not_declared => spec(good_with("targetPort: 9898", "targetPort: grpc"))
        .fails(2, "spec.service.targetPort")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    namespace_missing => spec(good().replace("namespace: test", "namespace: nowhere"))
        .fails(2, "\"nowhere\"")
        .echoed("podinfo")
        .writes(Writes::Lock("podinfo"));
    cluster_error_is_printed_once => spec(good_with("Deployment, name: podinfo", "Deployment, name: nope"))
        .fails(2, "deployment/nope (spec.targetRef) does not exist in namespace test")
        .writes(Writes::Lock("podinfo"));

    // --- not input errors: what the product does when a server misbehaves. ---------------------
    // The metrics server is probed with vector(1) before the first tick: HTML is reported as a
    // warning and the run goes on (here: nothing to roll out, exit 0).
    metrics_server_html_at_startup => spec(good_with("{prometheus}", "{html}"))
        .setup(initialized)
        .fails(0, "test/podinfo: warning: metrics server {html}/ is not answering: the response is not JSON")
        .output()
        .writes(Writes::Lock("podinfo"));
    // During the analysis it is a failed check: rolled back at the threshold, exit 1.
    metrics_server_html_mid_rollout => spec(good_with("{prometheus}", "{html}"))
        .setup(released)
        .fails(1, "spec.analysis.metrics[0]: metric request-success-rate failed 2 of 2 checks; last: metric request-success-rate query failed: the response is not JSON")
        .output()
        .writes(Writes::Rollout);
    // A webhook that accepts and never answers: closed after its timeout, counted as a failed
    // check, rolled back at the threshold, exit 1.
    webhook_hangs => spec(format!("{}    webhooks:\n      - {{name: load-test, type: pre-rollout, url: \"{{hang}}\", timeout: 1s}}\n", good()))
        .setup(released)
        .fails(1, "spec.analysis.webhooks[0]: pre-rollout webhook load-test held the rollout 2 of 2 times")
        .output()
        .writes(Writes::Rollout);
    webhook_hang_says_it_timed_out => spec(format!("{}    webhooks:\n      - {{name: load-test, type: pre-rollout, url: \"{{hang}}\", timeout: 1s}}\n", good()))
        .setup(released)
        .fails(1, "last: load-test: timed out")
        .output()
        .writes(Writes::Rollout);
}
