//! `canary-compare`: the same canaries driven by Flagger's controller and by canary-gate on one
//! real cluster, side by side, and a table of what each did. Each scenario gets two namespaces
//! of the cluster (each with the app, its own Prometheus and webhook stand-in): Flagger watches
//! one with the scenario as a Canary object, canary-gate drives the other from the same spec as
//! a file. Prints a Markdown table, then each scenario's object diff and webhook calls; exits 1
//! when a verdict differs from the expected one or an object differs in a way the README does
//! not explain (a finding).
//!
//! Usage: `canary-compare --flagger <bin> --canary-gate <bin> [--only <text>[|<text>...]]
//! [--parallel N] [--keep]`
//! (`CANARY_KUBE_DIR` names the Kubernetes components, as for `canary-sim serve`).

mod diff;
mod drive;
mod hooks;
mod lane;
mod scenario;

use canary_gate_sim::{Backend, Sim, SimConfig, SimHandle};
use drive::Observed;
use scenario::{Scenario, Verdict};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What one scenario gave.
struct Outcome {
    name: &'static str,
    expect: Verdict,
    flagger: Observed,
    gate: Observed,
    diff: Vec<String>,
}

struct Args {
    flagger: PathBuf,
    gate: PathBuf,
    only: Option<String>,
    parallel: usize,
    /// Keep each scenario's work directory (its spec and both drivers' logs).
    keep: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        flagger: PathBuf::new(),
        gate: PathBuf::from("target/debug/canary-gate"),
        only: None,
        parallel: 3,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--flagger" => a.flagger = PathBuf::from(value()?),
            "--canary-gate" => a.gate = PathBuf::from(value()?),
            "--only" => a.only = Some(value()?),
            "--parallel" => a.parallel = value()?.parse().map_err(|_| "--parallel: a number")?,
            "--keep" => a.keep = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.flagger.as_os_str().is_empty() {
        return Err("--flagger <path to the flagger binary> is required".into());
    }
    Ok(a)
}

fn main() {
    let code = match args().and_then(|a| compare(&a)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("canary-compare: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn compare(a: &Args) -> Result<bool, String> {
    let started = Instant::now();
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_secs(1),
        rps: 100.0,
        backend: Backend::Kube { cluster: None },
        ..SimConfig::default()
    })
    .map_err(|e| format!("starting the cluster: {e}"))?;
    let t0 = Instant::now();
    let dir = tempfile_dir()?;
    let app = std::fs::read_to_string(repo().join("fixtures/k8s/podinfo.yaml"))
        .map_err(|e| format!("reading the fixture app: {e}"))?;
    let scenarios: Vec<Scenario> = scenario::all()
        .into_iter()
        .filter(|s| {
            let mut wanted = a.only.as_deref().map(|o| o.split('|'));
            wanted
                .as_mut()
                .is_none_or(|w| w.any(|o| s.name.contains(o)))
        })
        .collect();
    let mut outcomes = Vec::new();
    for batch in scenarios.chunks(a.parallel.max(1)) {
        let results: Vec<Result<Outcome, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = outcomes.len() + i;
                    let work = dir.join(format!("s{n}"));
                    let (sim, app) = (&sim, &app);
                    scope.spawn(move || run(a, s, (sim, t0), n, app, &work))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a scenario panicked".into()))
                })
                .collect()
        });
        for r in results {
            outcomes.push(r?);
        }
    }
    print(&outcomes, started.elapsed());
    if a.keep {
        println!(
            "\nlogs kept in {} (s<N>/flagger.log, s<N>/canary-gate-run.log)",
            dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(outcomes.iter().all(|o| {
        let verdicts = o.flagger.verdict == Some(o.expect) && o.gate.verdict == Some(o.expect);
        verdicts && o.diff.iter().all(|l| diff::explained(l).is_some())
    }))
}

/// One scenario: both lanes set up, both drivers initialized, released together, compared.
fn run(
    a: &Args,
    s: &Scenario,
    (sim, t0): (&SimHandle, Instant),
    n: usize,
    app: &str,
    work: &Path,
) -> Result<Outcome, String> {
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let what = |e: String| format!("{}: {e}", s.name);
    let fl = lane::Lane::new(sim, t0, &format!("flagger-{n}"), s, app).map_err(what)?;
    let gl = lane::Lane::new(sim, t0, &format!("gate-{n}"), s, app).map_err(what)?;
    let f = drive::Flagger::start(&a.flagger, &fl, work).map_err(what)?;
    let spec = work.join("canary.yaml");
    std::fs::write(&spec, &gl.spec).map_err(|e| what(e.to_string()))?;
    drive::flagger_init(&fl, &f).map_err(what)?;
    let init_peak = drive::gate_init(&a.gate, &gl, &spec).map_err(what)?;
    let (flagger, gate) =
        drive::race(s, (&fl, &f), &gl, &a.gate, &spec, init_peak).map_err(what)?;
    let diff = diff::diff(&diff::snapshot(&fl), &diff::snapshot(&gl));
    drop(f);
    fl.retire();
    gl.retire();
    Ok(Outcome {
        name: s.name,
        expect: s.expect,
        flagger,
        gate,
        diff,
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("canary-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

fn secs(v: Option<f64>) -> String {
    v.map_or("–".into(), |s| format!("{s:.1}"))
}

/// `g / f`, as the table shows a ratio.
fn ratio(f: Option<f64>, g: Option<f64>) -> String {
    match (f, g) {
        (Some(f), Some(g)) if f > 0.0 => format!("{:.2}", g / f),
        _ => "–".into(),
    }
}

fn weights(o: &Observed) -> String {
    o.weights
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("→")
}

fn unexplained(o: &Outcome) -> String {
    let open = o
        .diff
        .iter()
        .filter(|l| diff::explained(l).is_none())
        .count();
    format!("{} ({open})", o.diff.len())
}

fn print(outcomes: &[Outcome], took: std::time::Duration) {
    println!(
        "| scenario | verdict (Flagger / canary-gate) | weights on the route: Flagger | canary-gate | time to promote, s | first failed check → weight 0, s (ratio) | API requests per tick (ratio) | API requests in all | peak memory, MiB (ratio) | metric queries per tick | object diff lines (unexplained) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let (f, g) = (&o.flagger, &o.gate);
        let v = |o: &Observed| o.verdict.map_or("–", |v| v.as_str());
        println!(
            "| {} | {} / {} | {} | {} | {} / {} | {} / {} ({}) | {} / {} ({}) | {} / {} | {:.0} / {:.0} ({}) | {:.1} / {:.1} | {} |",
            o.name,
            v(f),
            v(g),
            weights(f),
            weights(g),
            secs(f.promote_s),
            secs(g.promote_s),
            secs(f.rollback_s),
            secs(g.rollback_s),
            ratio(f.rollback_s, g.rollback_s),
            secs(f.requests_per_tick),
            secs(g.requests_per_tick),
            ratio(f.requests_per_tick, g.requests_per_tick),
            f.requests,
            g.requests,
            f.peak_mib,
            g.peak_mib,
            ratio(Some(f.peak_mib), Some(g.peak_mib)),
            f.queries_per_tick,
            g.queries_per_tick,
            unexplained(o),
        );
    }
    for o in outcomes {
        println!("\n### {}\n", o.name);
        println!(
            "webhook calls: Flagger {:?}, canary-gate {:?}",
            o.flagger.hooks, o.gate.hooks
        );
        for t in [&o.flagger.trouble, &o.gate.trouble].into_iter().flatten() {
            println!("unfinished; the driver's last lines:\n{t}");
        }
        match o.diff.is_empty() {
            true => println!("objects: no difference after normalisation"),
            false => {
                println!("objects (- Flagger only, + canary-gate only):\n```");
                for l in &o.diff {
                    match diff::explained(l) {
                        Some(why) => println!("{l}    # explained: {why}"),
                        None => println!("{l}"),
                    }
                }
                println!("```");
            }
        }
    }
    println!(
        "\n{} scenarios in {:.0}s",
        outcomes.len(),
        took.as_secs_f64()
    );
}
