//! Many canaries in one invocation: 1, 10 and 100 services on the simulator, each released and
//! rolled out by one `run` with `--max-parallel` equal to their number. Prints the wall time of
//! that `run`, its ratio to the single canary's, the process's peak RSS (VmHWM, read from /proc
//! while it runs), the Kubernetes requests it made, and the GitHub requests it sent to a local
//! Checks API (one check run per canary, updates paced to the token's hourly budget). Run with
//! `cargo bench --bench many`.

// A benchmark's setup failing has nothing to recover: it stops with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/canary.rs"]
mod canary;

use canary::canary;
use canary_gate_sim::{Sim, SimConfig};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Canary of service `name`: one 50 % step, a 1 s interval.
fn canary_of(name: &str) -> String {
    canary(name)
        .nginx()
        .interval("1s")
        .threshold(2)
        .step_weight(50)
        .max_weight(50)
        .yaml()
}

struct Measure {
    wall: Duration,
    peak_kb: u64,
    requests: usize,
    github: Github,
}

/// What the local Checks API saw during the rollout.
#[derive(Default)]
struct Github {
    creations: usize,
    updates: usize,
    completions: usize,
    /// The most in-progress updates one check run got.
    most_updates: usize,
}

/// A Checks API on 127.0.0.1 answering creations with a fresh id and updates with 200.
fn checks_api(rt: &tokio::runtime::Runtime) -> wiremock::MockServer {
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};
    rt.block_on(async {
        let server = wiremock::MockServer::start().await;
        let ids = std::sync::atomic::AtomicU64::new(1);
        Mock::given(method("POST"))
            .respond_with(move |_: &wiremock::Request| {
                let id = ids.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ResponseTemplate::new(201).set_body_json(
                    json!({"id": id, "html_url": format!("https://github.com/o/r/runs/{id}")}),
                )
            })
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&server)
            .await;
        server
    })
}

fn github_counts(
    rt: &tokio::runtime::Runtime,
    server: &wiremock::MockServer,
    earlier: usize,
) -> Github {
    let mut out = Github::default();
    let mut per_run: std::collections::HashMap<String, usize> = Default::default();
    let all = rt.block_on(server.received_requests()).unwrap_or_default();
    for r in all.into_iter().skip(earlier) {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        match r.method.as_str() {
            "POST" => out.creations += 1,
            "PATCH" if body.get("conclusion").is_some() => out.completions += 1,
            "PATCH" => {
                out.updates += 1;
                *per_run.entry(r.url.path().to_string()).or_default() += 1;
            }
            _ => {}
        }
    }
    out.most_updates = per_run.values().copied().max().unwrap_or(0);
    out
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn one_size(n: usize) -> Measure {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let gh = checks_api(&rt);
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(100),
        rps: 5.0,
        ..SimConfig::default()
    })
    .expect("simulator");
    sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}))
        .expect("namespace");
    let names: Vec<String> = (0..n).map(|i| format!("svc{i:03}")).collect();
    for name in &names {
        sim.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "test"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                    {"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                     "ports": [{"containerPort": 9898}]}]}}}}))
            .expect("deployment");
        sim.create(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "test"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 9898}]}}))
            .expect("service");
        sim.create(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "test"},
            "spec": {"rules": [{"host": format!("{name}.test"), "http": {"paths": [{"path": "/",
                "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}}))
        .expect("ingress");
    }
    let dir =
        std::env::temp_dir().join(format!("canary-gate-bench-many-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let spec = dir.join("canaries.yaml");
    let docs: Vec<String> = names.iter().map(|n| canary_of(n)).collect();
    std::fs::write(&spec, docs.join("---\n")).expect("spec");
    let parallel = n.to_string();
    let command = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canary-gate"));
        cmd.arg("run")
            .args(extra)
            .arg("--canary")
            .arg(&spec)
            .arg("--kubeconfig")
            .arg(&sim.kubeconfig)
            .args(["--max-parallel", &parallel, "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("GITHUB_") || k.starts_with("INPUT_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("GITHUB_REPOSITORY", "o/r")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_API_URL", gh.uri())
            .args(["--github-token", "bench-token"]);
        cmd
    };
    // Take every service over, then release all of them and measure the rollout.
    let status = command(&[]).status().expect("init run");
    assert!(status.success(), "initializing {n} canaries failed");
    let images: Vec<String> = vec!["app=ghcr.io/stefanprodan/podinfo:6.7.1".into()];
    sim.clear_requests();
    let earlier = rt.block_on(gh.received_requests()).map_or(0, |r| r.len());
    let start = Instant::now();
    let mut child = command(&["--image", &images[0]]).spawn().expect("run");
    let mut peak_kb = 0;
    loop {
        if let Some(kb) = vm_hwm_kb(child.id()) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "rolling out {n} canaries failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall = start.elapsed();
    let requests = sim.requests().len();
    let github = github_counts(&rt, &gh, earlier);
    let _ = std::fs::remove_dir_all(&dir);
    sim.stop();
    Measure {
        wall,
        peak_kb,
        requests,
        github,
    }
}

fn main() {
    let sizes = [1usize, 10, 100];
    let results: Vec<(usize, Measure)> = sizes.iter().map(|&n| (n, one_size(n))).collect();
    let base = results[0].1.wall.as_secs_f64();
    println!("| canaries | wall time of `run` | ratio to 1 | peak RSS | Kubernetes requests |");
    println!("|---:|---:|---:|---:|---:|");
    for (n, m) in &results {
        println!(
            "| {n} | {:.2} s | {:.2} | {:.1} MB | {} |",
            m.wall.as_secs_f64(),
            m.wall.as_secs_f64() / base,
            m.peak_kb as f64 / 1024.0,
            m.requests
        );
    }
    println!();
    println!(
        "| canaries | GitHub requests: create + update + complete | most updates of one check run | first-hour bound (budget {}) |",
        canary_gate::report::github::HOURLY_BUDGET
    );
    println!("|---:|---:|---:|---:|");
    for (n, m) in &results {
        let g = &m.github;
        let share = (canary_gate::report::github::UPDATE_BURST / *n as f64)
            .floor()
            .max(1.0);
        let bound = *n as f64 * (share + 2.0) + canary_gate::report::github::UPDATES_PER_HOUR;
        println!(
            "| {n} | {} + {} + {} = {} | {} | {bound:.0} |",
            g.creations,
            g.updates,
            g.completions,
            g.creations + g.updates + g.completions,
            g.most_updates
        );
    }
}
