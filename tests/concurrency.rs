//! Concurrency and cancellation: two `run`s and a `step` on one canary at once (one drives, the
//! others exit 3 naming the holder, no step is taken twice), a lease taken over from a stalled
//! job (it stops and leaves the new holder's lease alone), a stale state writer refused, and
//! the runner's cancellation — SIGINT then SIGTERM — at random ticks.

use crate::canary::canary;
use crate::cluster::{Cluster, Lab};
use crate::support::{canary_gate, poll};
use canary_gate::k8s::state_store::StateStore;
use serde_json::json;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn spec() -> String {
    canary("podinfo")
        .nginx()
        .interval("1s")
        .threshold(2)
        .step_weight(20)
        .max_weight(80)
        .yaml()
}

fn lab() -> Lab {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let lab = Lab::new(c, &spec());
    lab.init();
    lab.release("6.7.1", "0");
    lab
}

impl Lab {
    fn spawn(&self, args: &[&str]) -> Child {
        canary_gate()
            .args(args)
            .args(["--canary", &self.spec, "--kubeconfig"])
            .arg(&self.c.sim.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn two_runs_and_a_step_at_once_one_drives_the_others_name_the_holder() {
    let lab = lab();
    let driver = lab.spawn(&["run"]);
    poll(Duration::from_secs(10), || {
        lab.c
            .find("coordination.k8s.io/v1", "Lease", "canary-gate.podinfo")
            .map(|_| ())
    })
    .expect("the first run holds the lock");
    let others = [
        lab.spawn(&["run", "--lock-timeout", "1s"]),
        lab.spawn(&["step", "--lock-timeout", "1s"]),
    ];
    let outs: Vec<_> = others
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains("is being driven by"))
            .unwrap_or_else(|| panic!("names the holder: {stderr}"));
        assert!(line.contains("lease/canary-gate.podinfo"), "{line}");
    }
    let d = driver.wait_with_output().unwrap();
    assert_eq!(
        d.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&d.stderr)
    );
    let state = lab.state();
    assert_eq!(state["phase"], "Succeeded");
    let mut last = 0;
    let mut raises = Vec::new();
    for r in state["history"].as_array().unwrap() {
        let w = r["weight"].as_u64().unwrap();
        if w > last {
            raises.push(w);
        }
        last = w;
    }
    assert_eq!(raises, [20, 40, 60, 80], "each step once");
}

fn lease_holder(c: &Cluster) -> Option<String> {
    c.find("coordination.k8s.io/v1", "Lease", "canary-gate.podinfo")
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn a_stalled_job_whose_lease_was_taken_over_stops_and_leaves_the_new_lease() {
    let c = Cluster::new();
    c.podinfo_with_traffic();
    let spec = canary("podinfo")
        .nginx()
        .interval("2s")
        .threshold(2)
        .step_weight(10)
        .max_weight(100)
        .yaml();
    let lab = Lab::new(c, &spec);
    lab.init();
    lab.release("6.7.1", "0");
    // Job A drives until it has moved traffic, then stalls (a frozen runner).
    let a = lab.spawn(&["run"]);
    let holder_a = poll(Duration::from_secs(30), || {
        (lab.weight() > 0).then(|| lease_holder(&lab.c)).flatten()
    })
    .expect("job A holds the lease and shifts traffic");
    signal(&a, "-STOP");
    // A's lease expires (as if A stalled past leaseDurationSeconds); job B takes it over.
    let past =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(120);
    let stamp = past.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    lab.c.merge_patch(
        "coordination.k8s.io/v1",
        "Lease",
        "canary-gate.podinfo",
        &json!({"spec": {"renewTime": stamp, "acquireTime": stamp}}),
    );
    let b = lab.spawn(&["run"]);
    let holder_b = poll(Duration::from_secs(20), || {
        lease_holder(&lab.c).filter(|h| *h != holder_a)
    })
    .expect("job B takes the expired lease over");
    // A wakes up: it stops driving, exits 3 naming B, and leaves B's lease alone.
    signal(&a, "-CONT");
    let out_a = a.wait_with_output().unwrap();
    let stderr_a = String::from_utf8_lossy(&out_a.stderr);
    assert_eq!(out_a.status.code(), Some(3), "{stderr_a}");
    assert!(
        stderr_a.contains(&format!("was taken over by {holder_b}; stopped driving it")),
        "A names the new holder: {stderr_a}"
    );
    assert_eq!(
        lease_holder(&lab.c).as_deref(),
        Some(holder_b.as_str()),
        "A's release left B's lease intact while B drives"
    );
    let out_b = b.wait_with_output().unwrap();
    assert_eq!(
        out_b.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out_b.stderr)
    );
    assert_eq!(lab.state()["phase"], "Succeeded");
    assert_eq!(lease_holder(&lab.c), None, "B released its own lease");
}

#[test]
fn a_stale_state_writer_is_refused_and_nothing_is_overwritten() {
    let lab = lab();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(&lab.c.sim.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let mut first = StateStore::open(&client, "test", "podinfo").await.unwrap();
        let mut second = StateStore::open(&client, "test", "podinfo").await.unwrap();
        let mut a = first.state().cloned().unwrap();
        a.message = Some("written by the first runner".into());
        first.save(&a).await.unwrap();
        let mut b = second.state().cloned().unwrap();
        b.message = Some("written by a stale runner".into());
        let err = second.save(&b).await.unwrap_err().to_string();
        assert!(
            err.contains(
                "was changed by another runner since it was read; nothing was overwritten"
            ),
            "{err}"
        );
    });
    assert_eq!(lab.state()["message"], "written by the first runner");
}

/// Returns a pseudo-random number below `n` from the clock (printed, so a failure can be
/// repeated by reading the log).
fn pick(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let v = nanos % n;
    eprintln!("picked {v} of {n}");
    v
}

#[test]
fn sigint_then_sigterm_at_a_random_tick_routes_to_the_primary_within_five_seconds() {
    for _ in 0..2 {
        let lab = lab();
        let at = 20 * (1 + pick(3) as u32); // 20, 40 or 60
        let child = lab.spawn(&["run"]);
        poll(Duration::from_secs(20), || {
            (lab.weight() >= at).then_some(())
        })
        .expect("the run reaches the weight");
        let sent = Instant::now();
        let kill = |sig: &str| {
            std::process::Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .unwrap()
        };
        // The runner sends SIGINT, then SIGTERM if the step is still running.
        assert!(kill("-INT").success());
        std::thread::sleep(Duration::from_millis(100 + pick(400)));
        let _ = kill("-TERM");
        let out = child.wait_with_output().unwrap();
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "{:?}",
            sent.elapsed()
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(lab.weight(), 0, "cancelled at {at}%");
        let state = lab.state();
        assert_eq!(
            (state["phase"].as_str(), state["message"].as_str()),
            (Some("Failed"), Some("cancelled"))
        );
        assert!(
            lab.c
                .find("coordination.k8s.io/v1", "Lease", "canary-gate.podinfo")
                .is_none(),
            "the lock is released"
        );
        // The next run analyses the same revision again, from the start, and promotes it.
        let again = lab.spawn(&["run"]).wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&again.stdout);
        assert_eq!(again.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("New revision detected"), "{stdout}");
        assert_eq!(lab.state()["phase"], "Succeeded");
    }
}
