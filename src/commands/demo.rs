//! `canary-gate demo`: the whole product with no cluster. Starts the cluster simulator in-process
//! with the sample app, a real Prometheus when `prometheus` is on PATH (otherwise the simulator's
//! own `sim` metrics provider, and it says so), then drives two releases through this same binary:
//! a healthy one promoted, a faulty one rolled back. Leaves nothing running and nothing behind.

use crate::error::{Error, Outcome};
use crate::settings::Settings;
use canary_gate_sim::prometheus::Prometheus;
use canary_gate_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const APP: &str = include_str!("../../fixtures/k8s/podinfo.yaml");

const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: nginx
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}
  service: {port: 80, targetPort: 9898}
  analysis:
    interval: 2s
    threshold: 3
    stepWeight: 25
    maxWeight: 50
    metrics:
      - name: request-success-rate
        interval: 10s
        thresholdRange: {min: 99}
      - name: request-duration
        interval: 10s
        thresholdRange: {max: 100}
";

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn infra(what: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Infra(format!("demo: {what}: {e}"))
}

fn release(sim: &SimHandle, image: &str, annotations: Value) -> Result<(), Error> {
    let patch = json!({"spec": {"template": {
        "metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "podinfo", "image": image}]}}}});
    sim.patch(
        "apps/v1",
        "Deployment",
        "test",
        "podinfo",
        canary_gate_sim::store::PatchKind::Strategic,
        &patch,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
    .map_err(infra("changing the target"))
}

/// Runs this binary on the demo's cluster (the user's inputs left out, but for the GitHub token,
/// passed in the environment so the runs report check runs like the real thing).
fn own(
    settings: &Settings,
    args: &[&str],
    spec: &Path,
    kubeconfig: &Path,
    metrics: &str,
) -> Result<i32, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Infra(format!("demo: finding this binary: {e}")))?;
    let mut cmd = Command::new(exe);
    // From the spec's directory, so reports name it as a workflow would: `canary.yaml:15`.
    if let (Some(dir), Some(file)) = (spec.parent(), spec.file_name()) {
        cmd.current_dir(dir).args(args).arg("--canary").arg(file);
    } else {
        cmd.args(args).arg("--canary").arg(spec);
    }
    cmd.arg("--kubeconfig").arg(kubeconfig);
    cmd.args(["--metrics-server", metrics, "--log-level", "warn"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("INPUT_") {
            cmd.env_remove(k);
        }
    }
    // The spec is not in the workspace: it resolves against the working directory.
    cmd.env_remove("GITHUB_WORKSPACE");
    if let Some(token) = &settings.github_token {
        cmd.env("INPUT_GITHUB-TOKEN", token.expose());
    }
    let status = cmd
        .status()
        .map_err(|e| Error::Infra(format!("demo: running {args:?}: {e}")))?;
    Ok(status.code().unwrap_or(-1))
}

/// Starts the cluster simulator and loads the `test` namespace and the sample app into it.
fn start_cluster() -> Result<SimHandle, Error> {
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(300),
        rps: 100.0,
        ..SimConfig::default()
    })
    .map_err(|e| Error::Infra(format!("demo: starting the simulator: {e}")))?;
    sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}))
        .map_err(|e| infra("creating the namespace")(e.to_string()))?;
    let docs = serde_saphyr::from_multiple::<Value>(APP)
        .map_err(|e| infra("reading the sample app")(e.to_string()))?;
    for doc in docs
        .into_iter()
        .filter(|d| d.is_object() && d["kind"] != "HorizontalPodAutoscaler")
    {
        sim.create(doc)
            .map_err(|e| infra("creating the sample app")(e.to_string()))?;
    }
    println!(
        "cluster:    canary-sim at {} (kubeconfig {})",
        sim.api_url,
        sim.kubeconfig.display()
    );
    Ok(sim)
}

/// Starts a real Prometheus scraping the simulator when one is on PATH and waits for its first
/// samples; otherwise says the simulator's own metrics provider will answer instead.
fn start_prometheus(sim: &SimHandle) -> Result<Option<Prometheus>, Error> {
    if !Prometheus::available() {
        println!(
            "metrics:    prometheus is not on PATH: using the simulator's own `sim` metrics provider (it answers only the built-in NGINX queries)"
        );
        return Ok(None);
    }
    let target = sim
        .metrics_url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let p = Prometheus::start(&target).map_err(|e| infra("starting Prometheus")(e.to_string()))?;
    println!(
        "metrics:    Prometheus at {} scraping the simulated ingress-nginx",
        p.url
    );
    if !p.wait_for_samples(3, Duration::from_secs(60)) {
        return Err(Error::Infra(
            "demo: Prometheus did not scrape the simulator within 60s".into(),
        ));
    }
    Ok(Some(p))
}

/// Writes the demo's canary spec into a fresh scratch directory and returns both.
fn write_spec() -> Result<(Scratch, PathBuf), Error> {
    let dir = std::env::temp_dir().join(format!("canary-gate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| infra("creating a scratch directory")(e.to_string()))?;
    let scratch = Scratch(dir);
    let spec = scratch.0.join("canary.yaml");
    std::fs::write(&spec, SPEC).map_err(|e| infra("writing the spec")(e.to_string()))?;
    Ok((scratch, spec))
}

/// Prints what became of the two releases and which image the primary ends up running.
fn print_summary(sim: &SimHandle, good: i32, bad: i32) {
    let primary = sim
        .get("apps/v1", "Deployment", "test", "podinfo-primary")
        .and_then(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!("\n── summary ──");
    println!(
        "release 6.7.1: {} (exit {good})",
        if good == 0 {
            "promoted"
        } else {
            "NOT promoted"
        }
    );
    println!(
        "release 6.7.2: {} (exit {bad})",
        if bad == 1 {
            "rolled back"
        } else {
            "NOT rolled back"
        }
    );
    println!("the primary runs {primary}");
}

/// Runs the demo.
pub fn run(settings: &Settings) -> Result<Outcome, Error> {
    println!("canary-gate demo: a simulated cluster, a sample app, two releases.\n");
    let sim = start_cluster()?;
    let prometheus = start_prometheus(&sim)?;
    let metrics = prometheus.as_ref().map_or_else(
        || format!("{}/_sim/prometheus", sim.api_url),
        |p| p.url.clone(),
    );
    let (scratch, spec) = write_spec()?;
    println!(
        "canary:     weights 25% → 50%, a check every 2s: success rate ≥ 99%, mean latency ≤ 100 ms\n"
    );

    println!("── initializing: podinfo-primary takes the traffic ──");
    if own(settings, &["init"], &spec, &sim.kubeconfig, &metrics)? != 0 {
        return Err(Error::Infra("demo: init failed".into()));
    }
    println!("\n── release 6.7.1: healthy (20 ms, no errors) ──");
    release(
        &sim,
        "ghcr.io/stefanprodan/podinfo:6.7.1",
        json!({"canary-gate.dev/sim-latency-ms": "20", "canary-gate.dev/sim-error-rate": "0"}),
    )?;
    let good = own(settings, &["run"], &spec, &sim.kubeconfig, &metrics)?;
    println!("\n── release 6.7.2: faulty (30% of requests fail) ──");
    release(
        &sim,
        "ghcr.io/stefanprodan/podinfo:6.7.2",
        json!({"canary-gate.dev/sim-latency-ms": "20", "canary-gate.dev/sim-error-rate": "0.3"}),
    )?;
    let bad = own(settings, &["run"], &spec, &sim.kubeconfig, &metrics)?;
    print_summary(&sim, good, bad);
    drop(prometheus);
    drop(scratch);
    sim.stop();
    Ok(if good == 0 && bad == 1 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
