//! Reliability under a misbehaving API server: full rollouts (a good release promoted, a bad one
//! rolled back) while the simulator injects conflicts, 5xx, 429 with `Retry-After`, latency
//! spikes and dropped connections; and crash points — the process killed just before its Nth
//! request, then re-run — over initialization, steps, promotion and finalisation.

use crate::canary::canary;
use crate::cluster::{Cluster, Lab};
use crate::support::{Run, canary_gate, poll};
use canary_gate_sim::Faults;
use serde_json::{Value, json};
use std::time::Duration;

/// One built-in check through the simulator's metrics provider, three 25 % steps.
fn spec(c: &Cluster) -> String {
    canary("podinfo")
        .nginx()
        .metrics_server(&c.sim.prometheus_url())
        .interval("1s")
        .threshold(2)
        .step_weight(25)
        .max_weight(75)
        .success_rate("2s", 99)
        .yaml()
}

/// The fixture app with traffic and [`spec`].
fn lab() -> Lab {
    let c = Cluster::new();
    c.podinfo_with_traffic();
    let spec = spec(&c);
    Lab::new(c, &spec)
}

impl Lab {
    fn run(&self) -> Run {
        self.cmd(&["run"])
    }

    /// The step records since the last "new revision" note.
    fn this_revision(&self) -> Vec<Value> {
        let state = self.state();
        let history = state["history"].as_array().cloned().unwrap_or_default();
        let start = history
            .iter()
            .rposition(|r| {
                r["notes"].as_array().is_some_and(|n| {
                    n.iter()
                        .any(|n| n.as_str().unwrap_or("").contains("New revision detected"))
                })
            })
            .unwrap_or(0);
        history[start..].to_vec()
    }
}

/// The raises of the canary weight in a revision's step history, each with whether every metric
/// of that tick passed.
fn raises(records: &[Value]) -> Vec<(u64, bool)> {
    let mut out = Vec::new();
    let mut last = 0;
    for r in records {
        let w = r["weight"].as_u64().unwrap_or(0);
        if w > last {
            let passed = r["metrics"]
                .as_array()
                .is_some_and(|m| m.iter().all(|m| m["passed"] == true));
            out.push((w, passed));
        }
        last = w;
    }
    out
}

/// A good release then a bad one under `faults`: the same outcomes, steps and state as without.
fn rollouts_under(faults: Faults, expect_retries: bool) {
    let lab = lab();
    let first = lab.run();
    assert_eq!(first.code, 0, "take-over: {}", first.stderr);
    lab.c.sim.set_faults(faults);

    lab.release("6.7.1", "0");
    let good = lab.run();
    assert_eq!(
        good.code, 0,
        "good release:\n{}\n{}",
        good.stdout, good.stderr
    );
    assert_eq!(lab.state()["phase"], "Succeeded");
    assert!(lab.primary_image().ends_with(":6.7.1"));
    assert_eq!(lab.weight(), 0);
    let steps = raises(&lab.this_revision());
    assert_eq!(
        steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        [25, 50, 75],
        "each step once, none missing: {:#?}",
        lab.this_revision()
    );
    // The first step follows the pre-rollout gate (no metrics at weight 0); every later raise
    // follows a passing analysis.
    assert!(steps[1..].iter().all(|s| s.1), "{steps:?}");

    lab.release("6.7.2", "0.5");
    let bad = lab.run();
    assert_eq!(bad.code, 1, "bad release:\n{}\n{}", bad.stdout, bad.stderr);
    assert_eq!(lab.state()["phase"], "Failed");
    assert!(
        lab.primary_image().ends_with(":6.7.1"),
        "the primary keeps the good release"
    );
    assert_eq!(lab.weight(), 0);
    let steps = raises(&lab.this_revision());
    assert_eq!(steps.first().map(|s| s.0), Some(25), "{steps:?}");
    assert!(steps[1..].iter().all(|s| s.1), "{steps:?}");

    let injected = lab
        .c
        .sim
        .requests()
        .iter()
        .filter(|e| e.injected || e.latency_ms >= 2000)
        .count();
    lab.c.sim.set_faults(Faults::default());
    assert!(injected > 0, "faults were injected");
    let log = format!("{}{}", good.stderr, bad.stderr);
    if expect_retries {
        assert!(
            log.contains("retrying"),
            "retries are visible in the log:\n{log}"
        );
    }
    let retries = log.matches("retrying").count();
    assert!(retries < 100, "retries are bounded: {retries}");
    eprintln!("faults injected: {injected}; retries logged: {retries}");
}

#[test]
fn a_conflict_on_every_third_write() {
    rollouts_under(
        Faults {
            conflict_every: Some(3),
            ..Faults::default()
        },
        true,
    );
}

#[test]
fn ten_percent_server_errors() {
    rollouts_under(
        Faults {
            error_rate: 0.1,
            error_code: Some(503),
            ..Faults::default()
        },
        true,
    );
}

#[test]
fn throttling_with_retry_after() {
    rollouts_under(
        Faults {
            throttle_rate: 0.1,
            retry_after_seconds: Some(1),
            ..Faults::default()
        },
        true,
    );
}

#[test]
fn two_second_latency_spikes() {
    rollouts_under(
        Faults {
            spike_every: Some(25),
            spike_ms: 2000,
            ..Faults::default()
        },
        false,
    );
}

#[test]
fn dropped_connections() {
    rollouts_under(
        Faults {
            drop_rate: 0.05,
            ..Faults::default()
        },
        true,
    );
}

/// The apex Service selects the primary only while the primary is ready, and the live canary
/// weight is never above the stored one.
fn assert_invariants(lab: &Lab, at: &str) {
    let apex = lab.c.find("v1", "Service", "podinfo");
    let selects_primary = apex.as_ref().is_some_and(|s| {
        s["spec"]["selector"]
            .as_object()
            .is_some_and(|sel| sel.values().any(|v| v == "podinfo-primary"))
    });
    if selects_primary {
        let primary = lab.c.get("apps/v1", "Deployment", "podinfo-primary");
        let ready = primary["status"]["readyReplicas"].as_u64().unwrap_or(0);
        assert!(
            ready > 0,
            "{at}: the apex selects a primary with no ready pod"
        );
    }
    let stored = lab.state()["canaryWeight"].as_u64().unwrap_or(0);
    let live = u64::from(lab.weight());
    assert!(
        live <= stored,
        "{at}: live weight {live} above the stored {stored}"
    );
}

/// Runs `run` with the process killed just before its `n`th request: `Ok` once killed there
/// (the invariants hold, the dead holder's lease is expired), or `Err(m)` when the run finished
/// first, after `m` requests.
fn run_killed_at(lab: &Lab, n: u64) -> Result<(), u64> {
    lab.c.sim.set_faults(Faults {
        stall_from: Some(n),
        ..Faults::default()
    });
    let mut child = canary_gate()
        .args(["run", "--canary", &lab.spec, "--kubeconfig"])
        .arg(&lab.c.sim.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reached = poll(Duration::from_secs(60), || {
        if lab.c.sim.fault_requests() >= n {
            return Some(true);
        }
        child.try_wait().unwrap().map(|_| false)
    })
    .expect("the run reaches the point or ends");
    let _ = child.kill();
    let status = child.wait().unwrap();
    let made = lab.c.sim.fault_requests();
    if !reached {
        lab.c.sim.set_faults(Faults::default());
        assert_eq!(status.code(), Some(0), "the run without a crash");
        return Err(made);
    }
    assert_invariants(lab, &format!("killed before request {n}"));
    // The dead process's lease would expire in 30 s; expire it now.
    // (There is none when the process died before taking the lock.)
    let _ = lab.c.sim.patch(
        "coordination.k8s.io/v1",
        "Lease",
        "test",
        "canary-gate.podinfo",
        canary_gate_sim::store::PatchKind::Merge,
        &json!({"spec": {"renewTime": "2020-01-01T00:00:00.000000Z", "acquireTime": "2020-01-01T00:00:00.000000Z"}}),
    );
    // Releasing the held request drops it unapplied: the process died before sending it.
    lab.c.sim.set_faults(Faults::default());
    Ok(())
}

/// A take-over and a good release with the process killed before request `n` of the two runs
/// together, then re-run: the release ends promoted. Whether the point was reached.
fn crash_point(n: u64) -> bool {
    let lab = lab();
    let reached = match run_killed_at(&lab, n) {
        Ok(()) => {
            let r = lab.run();
            assert_eq!(
                r.code, 0,
                "resuming the take-over after request {n}: {}",
                r.stderr
            );
            lab.release("6.7.1", "0");
            true
        }
        Err(made) => {
            lab.release("6.7.1", "0");
            run_killed_at(&lab, n - made).is_ok()
        }
    };
    let r = lab.run();
    assert_eq!(
        r.code, 0,
        "resuming after request {n}:\n{}\n{}",
        r.stdout, r.stderr
    );
    assert_eq!(lab.state()["phase"], "Succeeded", "after request {n}");
    assert!(lab.primary_image().ends_with(":6.7.1"), "after request {n}");
    assert_eq!(lab.weight(), 0);
    assert_invariants(&lab, &format!("after resuming from request {n}"));
    reached
}

/// The requests a take-over and a good release make, as the simulator's log counts them in a
/// run without crashes: where the points go.
fn reference_counts() -> (u64, u64) {
    let lab = lab();
    let r = lab.run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let take_over = lab.c.sim.requests().len() as u64;
    lab.release("6.7.1", "0");
    lab.c.sim.clear_requests();
    let r = lab.run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    (take_over, lab.c.sim.requests().len() as u64)
}

/// Seven crash points spread evenly over requests `from..to` of the two runs; all are reached
/// and resumed.
fn crash_points(from: u64, to: u64) {
    let points: Vec<u64> = (0..7).map(|k| from + (to - from) * k / 7).collect();
    let reached = points.iter().filter(|n| crash_point(**n)).count();
    // Request counts vary a little from run to run (readiness polls); a point past the end of
    // the run is not a crash.
    assert!(reached >= 6, "{reached} of {points:?} reached");
}

#[test]
fn crash_points_in_the_take_over() {
    let (take_over, _) = reference_counts();
    crash_points(1, take_over);
}

#[test]
fn crash_points_in_the_steps() {
    // The release's run: scale-up and three steps take about the first 60 % of its requests.
    let (take_over, release) = reference_counts();
    crash_points(take_over + 1, take_over + release * 6 / 10);
}

#[test]
fn crash_points_in_promotion_and_finalising() {
    let (take_over, release) = reference_counts();
    crash_points(take_over + release * 6 / 10, take_over + release);
}
