//! The two drivers of a scenario, side by side: Flagger's controller watching its lane's
//! namespace with the scenario as a Canary object, and canary-gate's `init` then `run` on
//! the same spec as a file. Both are released at the same moment and sampled every 200 ms
//! (phase, weight, failed checks, the route's weight, peak memory); what they did is reduced to
//! an [`Observed`]. Must not compare the two (`diff.rs` and `main.rs` do).

use crate::lane::{Lane, documents, peak_kib};
use crate::scenario::{Scenario, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a rollout may take once released.
const LIMIT: Duration = Duration::from_secs(300);
/// Flagger's and the scenarios' analysis interval.
const INTERVAL: f64 = 10.0;

/// A driver's status at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// Flagger's phase name.
    pub phase: String,
    /// The weight the driver says it set.
    pub weight: u32,
    /// Failed checks so far.
    pub failed: u32,
}

/// One sample.
#[derive(Clone, Debug)]
struct Sample {
    at: Instant,
    status: Status,
    route: Option<u32>,
}

/// What one driver did in a scenario.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// How it ended.
    pub verdict: Option<Verdict>,
    /// The canary weights seen on the route (or, without a route, reported), in order.
    pub weights: Vec<u32>,
    /// Seconds from the release to `Succeeded`.
    pub promote_s: Option<f64>,
    /// Seconds from the first failed check to the canary's weight back at 0.
    pub rollback_s: Option<f64>,
    /// API requests per analysis interval while `Progressing`.
    pub requests_per_tick: Option<f64>,
    /// API requests from the release to the end.
    pub requests: u64,
    /// Peak resident memory of the driver's process, MiB.
    pub peak_mib: f64,
    /// Metric queries per analysis interval, release to end.
    pub queries_per_tick: f64,
    /// Webhook calls by path.
    pub hooks: BTreeMap<String, u64>,
    /// Why it did not finish, when it did not (its log's tail).
    pub trouble: Option<String>,
}

/// Flagger's controller for one lane.
pub struct Flagger {
    child: Child,
    log: PathBuf,
}

impl Flagger {
    /// Starts `bin` against the lane's tenant, watching `test`, as a user would run it.
    pub fn start(bin: &Path, lane: &Lane<'_>, dir: &Path) -> Result<Flagger, String> {
        let log = dir.join("flagger.log");
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(bin)
            .arg(format!("-kubeconfig={}", lane.sim.kubeconfig.display()))
            .arg(format!("-metrics-server={}", lane.prom.url))
            .arg(format!("-namespace={}", lane.ns))
            .arg("-enable-leader-election=false")
            .arg("-log-level=info")
            .arg(format!("-port={port}"))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        Ok(Flagger { child, log })
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Flagger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn flagger_status(lane: &Lane<'_>) -> Option<Status> {
    let c = lane
        .sim
        .get("flagger.app/v1beta1", "Canary", &lane.ns, "podinfo")?;
    let s = &c["status"];
    Some(Status {
        phase: s["phase"].as_str().unwrap_or_default().to_string(),
        weight: s["canaryWeight"].as_u64().unwrap_or(0) as u32,
        failed: s["failedChecks"].as_u64().unwrap_or(0) as u32,
    })
}

fn gate_status(lane: &Lane<'_>) -> Option<Status> {
    let cm = lane
        .sim
        .get("v1", "ConfigMap", &lane.ns, "canary-gate.podinfo")?;
    let s: serde_json::Value = serde_json::from_str(cm["data"]["state.json"].as_str()?).ok()?;
    Some(Status {
        phase: s["phase"].as_str().unwrap_or_default().to_string(),
        weight: s["canaryWeight"].as_u64().unwrap_or(0) as u32,
        failed: s["failedChecks"].as_u64().unwrap_or(0) as u32,
    })
}

/// Creates the Canary object and waits until Flagger initialized it.
pub fn flagger_init(lane: &Lane<'_>, f: &Flagger) -> Result<(), String> {
    for doc in documents(&lane.spec)? {
        lane.sim
            .create(doc)
            .map_err(|e| format!("creating the Canary: {e:?}"))?;
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(180) {
        if flagger_status(lane).is_some_and(|s| s.phase == "Initialized") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "Flagger did not initialize the canary in 180s:\n{}",
        f.tail()
    ))
}

/// `canary-gate init` on the lane's spec; the peak memory it used, KiB.
pub fn gate_init(bin: &Path, lane: &Lane<'_>, spec: &Path) -> Result<u64, String> {
    let mut child = gate(bin, lane, spec, "init")?;
    let (status, peak) = wait_measuring(&mut child)?;
    match status.success() {
        true => Ok(peak),
        false => Err(format!("canary-gate init exited with {status}")),
    }
}

/// Starts `canary-gate <command>`; its output goes to `canary-gate-<command>.log` beside the
/// spec (as Flagger's goes to `flagger.log`), to read when the two differ.
fn gate(bin: &Path, lane: &Lane<'_>, spec: &Path, command: &str) -> Result<Child, String> {
    let log = spec.with_file_name(format!("canary-gate-{command}.log"));
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    Command::new(bin)
        .args([command, "--canary"])
        .arg(spec)
        .arg("--kubeconfig")
        .arg(&lane.sim.kubeconfig)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))
}

fn wait_measuring(child: &mut Child) -> Result<(std::process::ExitStatus, u64), String> {
    let mut peak = 0;
    loop {
        peak = peak.max(peak_kib(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok((status, peak));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Samples a driver every 200 ms until its phase is final (or `LIMIT`), tracking the peak
/// memory `mem` reports.
fn watch(
    lane: &Lane<'_>,
    status: impl Fn(&Lane<'_>) -> Option<Status>,
    mut alive: impl FnMut() -> bool,
    mem: impl Fn() -> Option<u64>,
) -> (Vec<Sample>, u64) {
    let (start, mut samples, mut peak) = (Instant::now(), Vec::new(), 0);
    while start.elapsed() < LIMIT {
        peak = peak.max(mem().unwrap_or(0));
        let s = status(lane).unwrap_or_default();
        let done = matches!(s.phase.as_str(), "Succeeded" | "Failed");
        samples.push(Sample {
            at: Instant::now(),
            status: s,
            route: lane.route_weight(),
        });
        if done || !alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (samples, peak)
}

/// Releases both lanes at once, drives both to their verdicts, and reduces what each did.
pub fn race(
    s: &Scenario,
    flagger: (&Lane<'_>, &Flagger),
    gate_lane: &Lane<'_>,
    gate_bin: &Path,
    gate_spec: &Path,
    init_peak: u64,
) -> Result<(Observed, Observed), String> {
    let (fl, f) = flagger;
    let (q_f, q_g) = (fl.queries(), gate_lane.queries());
    let released = Instant::now();
    fl.release(s.release.0, s.release.1)?;
    gate_lane.release(s.release.0, s.release.1)?;
    let mut run = gate(gate_bin, gate_lane, gate_spec, "run")?;
    let run_pid = run.id();
    let (f_side, g_side) = std::thread::scope(|scope| {
        let fw = scope.spawn(|| {
            let pid = f.child.id();
            watch(fl, flagger_status, || true, || peak_kib(pid))
        });
        let g = watch(
            gate_lane,
            gate_status,
            || matches!(run.try_wait(), Ok(None)),
            || peak_kib(run_pid),
        );
        (fw.join().unwrap_or_default(), g)
    });
    let _ = run.kill();
    let _ = run.wait();
    let mut of = reduce(fl, &f_side.0, released, f_side.1, q_f);
    if of.verdict == Some(Verdict::Unfinished) {
        of.trouble = Some(f.tail());
    }
    let og = reduce(gate_lane, &g_side.0, released, g_side.1.max(init_peak), q_g);
    Ok((of, og))
}

/// What the samples of one driver add up to.
fn reduce(lane: &Lane<'_>, samples: &[Sample], released: Instant, peak: u64, q0: u64) -> Observed {
    let end = samples.last().map_or(released, |s| s.at);
    let verdict = match samples.last().map(|s| s.status.phase.as_str()) {
        Some("Succeeded") => Verdict::Succeeded,
        Some("Failed") => Verdict::Failed,
        _ => Verdict::Unfinished,
    };
    let weight = |s: &Sample| s.route.unwrap_or(s.status.weight);
    let mut weights: Vec<u32> = Vec::new();
    for s in samples {
        if weights.last() != Some(&weight(s)) {
            weights.push(weight(s));
        }
    }
    let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
    let promote_s = (verdict == Verdict::Succeeded).then(|| secs(released, end));
    let first_failed = samples.iter().position(|s| s.status.failed > 0);
    let rollback_s = first_failed.and_then(|i| {
        let back = samples[i..]
            .iter()
            .find(|s| weight(s) == 0 && s.status.phase == "Failed")?;
        Some(secs(samples[i].at, back.at))
    });
    let progressing: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.status.phase == "Progressing")
        .collect();
    let requests_per_tick = match (progressing.first(), progressing.last()) {
        (Some(a), Some(b)) if secs(a.at, b.at) >= INTERVAL => {
            let n = lane.requests_between(a.at, b.at) as f64;
            Some(n / (secs(a.at, b.at) / INTERVAL))
        }
        _ => None,
    };
    let ticks = (secs(released, end) / INTERVAL).max(1.0);
    Observed {
        verdict: Some(verdict),
        weights,
        promote_s,
        rollback_s,
        requests_per_tick,
        requests: lane.requests_between(released, end),
        peak_mib: peak as f64 / 1024.0,
        queries_per_tick: lane.queries().saturating_sub(q0) as f64 / ticks,
        hooks: lane.hooks.calls(),
        trouble: None,
    }
}
