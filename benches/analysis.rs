//! Analysis cost with 5 metrics (2 built-in, 3 MetricTemplates from the cluster) against the
//! simulator's metrics provider: metric queries per analysis tick (goal: one per metric) and the
//! wall time of one `step` (process start, connect, lock, observe, 5 queries, write, release).
//! Run with `cargo bench --bench analysis`.

// A benchmark's setup failing has nothing to recover: it stops with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/canary.rs"]
mod canary;

use canary::canary;
use canary_gate_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(100),
        rps: 100.0,
        ..SimConfig::default()
    })
    .expect("simulator");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for ns in ["test", "monitoring"] {
        sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("namespace");
    }
    let app = std::fs::read_to_string(root.join("fixtures/k8s/podinfo.yaml")).expect("fixture");
    for doc in serde_saphyr::from_multiple::<Value>(&app).expect("yaml") {
        if !doc.is_null() && doc["kind"] != "HorizontalPodAutoscaler" {
            sim.create(doc).expect("fixture object");
        }
    }
    let query = "sum(rate(nginx_ingress_controller_requests{namespace=\"{{ namespace }}\",ingress=\"{{ ingress }}\",canary!=\"\",status!~\"5.*\"}[{{ interval }}])) / sum(rate(nginx_ingress_controller_requests{namespace=\"{{ namespace }}\",ingress=\"{{ ingress }}\",canary!=\"\"}[{{ interval }}])) * 100";
    for name in ["t1", "t2", "t3"] {
        sim.create(
            json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
                          "metadata": {"name": name, "namespace": "monitoring"},
                          "spec": {"provider": {"type": "prometheus"}, "query": query}}),
        )
        .expect("template");
    }
    let dir =
        std::env::temp_dir().join(format!("canary-gate-bench-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let spec = dir.join("canary.yaml");
    let mut metrics = String::from(
        "      - {name: request-success-rate, interval: 10s, thresholdRange: {min: 1}}\n      - {name: request-duration, interval: 10s, thresholdRange: {max: 1000}}\n",
    );
    for t in ["t1", "t2", "t3"] {
        metrics.push_str(&format!("      - {{name: {t}, templateRef: {{name: {t}, namespace: monitoring}}, interval: 10s, thresholdRange: {{min: 1}}}}\n"));
    }
    std::fs::write(
        &spec,
        canary("podinfo")
            .nginx()
            .interval("1s")
            .threshold(100)
            .step_weight(5)
            .analysis_lines(&format!("    metrics:\n{metrics}"))
            .yaml(),
    )
    .expect("spec");
    let bin = env!("CARGO_BIN_EXE_canary-gate");
    let server = format!("{}/_sim/prometheus", sim.api_url);
    let step = || {
        let started = Instant::now();
        let out = Command::new(bin)
            .args(["step", "--canary"])
            .arg(&spec)
            .arg("--kubeconfig")
            .arg(&sim.kubeconfig)
            .args(["--metrics-server", &server])
            .output()
            .expect("binary");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let init = Command::new(bin)
        .args(["init", "--canary"])
        .arg(&spec)
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .output()
        .expect("init");
    assert!(init.status.success());
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"release": "2"}}}}});
    sim.patch(
        "apps/v1",
        "Deployment",
        "test",
        "podinfo",
        canary_gate_sim::store::PatchKind::Merge,
        &patch,
    )
    .expect("release");
    step(); // scale up
    std::thread::sleep(Duration::from_millis(300));
    step(); // first step (pre-rollout tick: no metrics)
    std::thread::sleep(Duration::from_secs(3));
    let before = sim.with_state(|s| s.history.queries);
    let mut times = Vec::new();
    for _ in 0..10 {
        times.push(step());
    }
    let queries = sim.with_state(|s| s.history.queries) - before;
    times.sort();
    // Each `step` process also checks each distinct metrics server once (vector(1)).
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| metric queries per analysis tick, 5 metrics | {:.1} (+1 provider check per process) | 5 |",
        (queries as f64 - 10.0) / 10.0
    );
    println!(
        "| wall time of one `step` with 5 metrics (median of 10) | {:.1} ms | |",
        times[5].as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
