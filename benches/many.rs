//! Many canaries in one invocation: 1, 10 and 100 services on the simulator, each released and
//! rolled out by one `run` with `--max-parallel` equal to their number. Prints the wall time of
//! that `run`, its ratio to the single canary's, the process's peak RSS (VmHWM, read from /proc
//! while it runs) and the Kubernetes requests it made. Run with `cargo bench --bench many`.

use canary_gate_sim::{Sim, SimConfig};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: NAME, namespace: test}
spec:
  provider: nginx
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: NAME}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: NAME}
  service: {port: 80, targetPort: 9898}
  analysis: {interval: 1s, threshold: 2, stepWeight: 50, maxWeight: 50}
";

struct Measure {
    wall: Duration,
    peak_kb: u64,
    requests: usize,
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn one_size(n: usize) -> Measure {
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
    let docs: Vec<String> = names.iter().map(|n| SPEC.replace("NAME", n)).collect();
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
        cmd
    };
    // Take every service over, then release all of them and measure the rollout.
    let status = command(&[]).status().expect("init run");
    assert!(status.success(), "initializing {n} canaries failed");
    let images: Vec<String> = vec!["app=ghcr.io/stefanprodan/podinfo:6.7.1".into()];
    sim.clear_requests();
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
    let _ = std::fs::remove_dir_all(&dir);
    sim.stop();
    Measure {
        wall,
        peak_kb,
        requests,
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
}
