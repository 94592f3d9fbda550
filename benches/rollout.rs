//! Rollout benchmarks against the simulator over HTTP, with its request log as the counter:
//! Kubernetes requests per steady analysis tick, and how close a 10-step rollout with a 1 s
//! interval stays to its ideal duration. Run with `cargo bench --bench rollout`.

// A benchmark's setup failing has nothing to recover: it stops with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/canary.rs"]
mod canary;

use canary::canary;
use canary_gate_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn main() {
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(100),
        rps: 5.0,
        ..SimConfig::default()
    })
    .expect("simulator");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}))
        .expect("namespace");
    let app = std::fs::read_to_string(root.join("fixtures/k8s/podinfo.yaml")).expect("fixture");
    for doc in serde_saphyr::from_multiple::<Value>(&app).expect("yaml") {
        if !doc.is_null() && doc["kind"] != "HorizontalPodAutoscaler" {
            sim.create(doc).expect("fixture object");
        }
    }
    let dir =
        std::env::temp_dir().join(format!("canary-gate-bench-rollout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let spec = dir.join("canary.yaml");
    std::fs::write(
        &spec,
        canary("podinfo")
            .nginx()
            .interval("1s")
            .threshold(2)
            .step_weight(10)
            .yaml(),
    )
    .expect("spec");
    let bin = env!("CARGO_BIN_EXE_canary-gate");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .arg("--canary")
            .arg(&spec)
            .arg("--kubeconfig")
            .arg(&sim.kubeconfig)
            .output()
            .expect("binary");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init"]);
    run(&[
        "run",
        "--image",
        "podinfo=ghcr.io/stefanprodan/podinfo:6.7.1",
    ]);
    sim.clear_requests();
    run(&[
        "run",
        "--image",
        "podinfo=ghcr.io/stefanprodan/podinfo:6.7.2",
    ]);
    let log = sim.requests();
    let weight_writes: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(e.method.as_str(), "PUT" | "PATCH")
                && e.path.ends_with("/ingresses/podinfo-canary")
        })
        .map(|(i, _)| i)
        .collect();
    // Weight writes: 10, 20, ..., 100 during analysis, then 0 at promotion.
    let steady: Vec<usize> = weight_writes
        .windows(2)
        .take(9)
        .map(|w| w[1] - w[0])
        .collect();
    let per_tick = steady.iter().sum::<usize>() as f64 / steady.len() as f64;
    let first = &log[weight_writes[0]];
    let tenth = &log[weight_writes[9]];
    let ten_steps = Duration::from_millis(tenth.at_ms - first.at_ms) + Duration::from_secs(1);
    let whole = Duration::from_millis(
        log.last().map_or(0, |e| e.at_ms) - log.first().map_or(0, |e| e.at_ms),
    );
    let breakdown: std::collections::BTreeMap<String, usize> = log
        [weight_writes[3]..weight_writes[4]]
        .iter()
        .fold(Default::default(), |mut m, e| {
            let kind = e.path.split('/').rev().nth(1).unwrap_or("").to_string();
            *m.entry(format!("{} {kind}", e.method)).or_default() += 1;
            m
        });
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!("| Kubernetes requests per steady analysis tick | {per_tick:.1} | ≤ 4 |");
    println!(
        "| 10-step rollout (1 s interval), first step to last step + 1 interval ÷ 10 s | {:.3} | ≤ 1.01 |",
        ten_steps.as_secs_f64() / 10.0
    );
    println!(
        "| whole `run` (scale-up, 10 steps, promotion, finalising), wall time | {:.1} s | |",
        whole.as_secs_f64()
    );
    println!("| requests in the whole `run` | {} | |", log.len());
    let configs: usize = breakdown
        .iter()
        .filter(|(k, _)| *k == "GET configmaps" || *k == "GET secrets")
        .map(|(_, v)| v)
        .sum();
    println!(
        "| … of which tracked-config reads (the fixture app mounts {configs}) | {configs}.0 | one per config |"
    );
    println!(
        "| Flagger's steady tick for the same app (reference §2.5, counted) | {} | |",
        FLAGGER_TICK + configs
    );
    let (to_zero, threshold) = failing_to_zero(&sim, &dir, bin);
    println!(
        "| first failing check to weight 0 (threshold {threshold}, 1 s interval) | {:.2} s | ≤ {}.00 s |",
        to_zero.as_secs_f64(),
        threshold + 1
    );
    println!("one steady tick: {breakdown:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kubernetes requests of a steady Progressing tick in Flagger for an NGINX canary, step by step
/// from reference §2.5: GET the Canary (1); GET the -canary and -primary Services (2); GET the
/// primary Deployment in `Initialize` (1); GET the apex Service (1); GET the Ingress and the
/// canary Ingress in `Reconcile` (2); `IsPrimaryReady` (1); `GetRoutes` (1); the target in
/// `hasCanaryRevisionChanged` (1, plus one per tracked config, added by the caller);
/// `IsCanaryReady` (1); `SetRoutes` GET + UPDATE (2); `SyncStatus` GET + UPDATE (2); one Event (1).
const FLAGGER_TICK: usize = 17;

/// A bad release (half the canary's requests fail) analysed by `request-success-rate`: the time
/// from the tick whose check first failed to the tick that set weight 0, both as the step
/// history records them (each right after that tick's check or write).
fn failing_to_zero(sim: &canary_gate_sim::SimHandle, dir: &Path, bin: &str) -> (Duration, u32) {
    let threshold = 2;
    let spec = dir.join("bad.yaml");
    std::fs::write(
        &spec,
        canary("podinfo")
            .nginx()
            .metrics_server(&format!("{}/_sim/prometheus", sim.api_url))
            .interval("1s")
            .threshold(threshold)
            .step_weight(10)
            .success_rate("5s", 99)
            .yaml(),
    )
    .expect("spec");
    let patch = json!({"spec": {"template": {
        "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": "0.5"}},
        "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.7.3"}]}}}});
    sim.patch(
        "apps/v1",
        "Deployment",
        "test",
        "podinfo",
        canary_gate_sim::store::PatchKind::Strategic,
        &patch,
    )
    .expect("patch");
    let out = Command::new(bin)
        .args(["run", "--canary"])
        .arg(&spec)
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .output()
        .expect("binary");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad release rolls back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cm = sim
        .get("v1", "ConfigMap", "test", "canary-gate.podinfo")
        .expect("state");
    let state: Value =
        serde_json::from_str(cm["data"]["state.json"].as_str().expect("state.json")).expect("json");
    let history = state["history"].as_array().expect("history");
    let at = |r: &Value| -> k8s_openapi::jiff::Timestamp {
        r["at"].as_str().expect("at").parse().expect("timestamp")
    };
    let zero_at = history
        .iter()
        .rposition(|r| r["phase"] == "Failed" && r["weight"] == 0)
        .expect("rolled back to weight 0");
    let zero = &history[zero_at];
    // The failing streak that led there starts at its last record with one failed check.
    let first_fail = history[..zero_at]
        .iter()
        .rev()
        .find(|r| r["failedChecks"] == 1)
        .expect("a failing check");
    let span = at(zero).duration_since(at(first_fail));
    (Duration::try_from(span).expect("positive"), threshold)
}
