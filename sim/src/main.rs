//! `canary-sim serve`: run the simulator until SIGINT or SIGTERM.

use canary_gate_sim::real::ClusterInfo;
use canary_gate_sim::{Backend, Sim, SimConfig};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A Kubernetes API subset, a deployment controller and an NGINX data plane on 127.0.0.1 — or the
/// same data plane, faults and request log in front of a real kube-apiserver (`--backend kube`).
#[derive(Parser)]
#[command(name = "canary-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until interrupted; writes a kubeconfig once ready and prints the URLs.
    Serve {
        /// Where to write the kubeconfig.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// API port (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Metrics port (0: any free port).
        #[arg(long, default_value_t = 0)]
        metrics_port: u16,
        /// Time for a Deployment change to become ready (e.g. 1s, 500ms, 2m).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        ready_after: Duration,
        /// Requests per second through each Ingress.
        #[arg(long, default_value_t = 10.0)]
        rps: f64,
        /// Require this bearer token (default: any token is accepted).
        #[arg(long)]
        token: Option<String>,
        /// `sim`: the simulator's own API server; `kube`: a real kube-apiserver, etcd and
        /// kube-controller-manager (built by testenv/kube/build first when missing).
        #[arg(long, default_value = "sim", value_parser = ["sim", "kube"])]
        backend: String,
        /// With `--backend kube`: where to write the cluster file other handles attach to
        /// (`CANARY_SIM_CLUSTER`; default: the kubeconfig's path + `.cluster.json`).
        #[arg(long)]
        cluster_file: Option<PathBuf>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 1s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let Command::Serve {
        kubeconfig,
        port,
        metrics_port,
        ready_after,
        rps,
        token,
        backend,
        cluster_file,
    } = Cli::parse().command;
    let config = SimConfig {
        port,
        metrics_port,
        ready_after,
        rps,
        token,
        kubeconfig: Some(kubeconfig.clone()),
        backend: match backend.as_str() {
            "kube" => Backend::Kube { cluster: None },
            _ => Backend::Sim,
        },
        ..SimConfig::default()
    };
    let sim = match Sim::start(config) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("canary-sim: error: {e}");
            return ExitCode::from(3);
        }
    };
    if let Some(cluster) = sim.real().and_then(|k| k.cluster.as_ref()) {
        let mut path = kubeconfig.clone().into_os_string();
        path.push(".cluster.json");
        let path = cluster_file.unwrap_or_else(|| PathBuf::from(path));
        if let Err(e) = ClusterInfo::of(cluster).write(&path) {
            eprintln!("canary-sim: error: {e}");
            return ExitCode::from(3);
        }
    }
    println!(
        "canary-sim: API {} metrics {} kubeconfig {}",
        sim.api_url,
        sim.metrics_url,
        kubeconfig.display()
    );
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(wait_for_signal()));
    sim.stop();
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("canary-sim: error: {e}");
            ExitCode::from(3)
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
