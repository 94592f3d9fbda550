//! The driver: everything a command that talks to a cluster shares, in the order it happens.
//! Cluster options, the canary's namespace and lock holder, the run lock around a body
//! (`lock.rs`), the choice of edges (`edges.rs`), initialization applied from data (`init.rs`),
//! the release (`release.rs`), one canary's session under its lock (`session.rs`: initialize,
//! release, ticks or a manual decision, cancellation), the tick's executor (`executor.rs`) and
//! the state read by `status` (`status.rs`). The subcommands in `commands/` are thin adapters
//! over it. Must not parse flags or load specs; prints only through the Reporter.

pub mod edges;
pub mod executor;
pub mod init;
pub mod lock;
pub mod release;
pub mod session;
pub mod status;

use crate::cli::ClusterArgs;
use crate::error::Error;
use crate::k8s::Connection;
use crate::settings::Settings;
use crate::spec::duration::parse_go_duration;
use crate::spec::model::Canary;
use crate::workload::Options;
use std::time::Duration;

/// Cluster options, parsed.
pub struct Cluster {
    /// Kubeconfig context.
    pub context: Option<String>,
    /// Lock wait.
    pub lock_timeout: Duration,
    /// Workload options.
    pub workload: Options,
    /// NGINX annotation prefix.
    pub ingress_prefix: String,
}

impl Cluster {
    /// Parses the flags (a bad value is invalid input).
    pub fn from_args(a: &ClusterArgs) -> Result<Cluster, Error> {
        let lock_timeout = parse_go_duration(&a.lock_timeout).ok_or_else(|| {
            Error::Invalid(format!(
                "--lock-timeout: {:?} is not a duration (e.g. 30s, 5m)",
                a.lock_timeout
            ))
        })?;
        let list = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let selector_labels = list(&a.selector_labels);
        if selector_labels.is_empty() {
            return Err(Error::Invalid(
                "--selector-labels: at least one label key is needed".into(),
            ));
        }
        Ok(Cluster {
            context: a.context.clone(),
            lock_timeout,
            workload: Options {
                selector_labels,
                include_label_prefixes: list(&a.include_label_prefix),
                config_tracking: a.enable_config_tracking,
            },
            ingress_prefix: a
                .ingress_annotations_prefix
                .trim_end_matches('/')
                .to_string(),
        })
    }
}

/// What this build can drive; anything else is refused before any write (the edges decide).
pub fn check_supported(c: &Canary, cluster: &Cluster) -> Result<(), Error> {
    let (plan, _) = crate::rollout::Plan::new(c);
    let scope = edges::Scope {
        canary: c,
        plan: &plan,
        namespace: "",
        owner: "",
        cluster,
    };
    edges::choose(&scope).map(|_| ())
}

/// The canary's namespace: its spec, else the `namespace` input, else `fallback` (the kubeconfig
/// context's).
pub fn namespace_of(settings: &Settings, fallback: &str, c: &Canary) -> String {
    c.namespace
        .clone()
        .or_else(|| settings.namespace.clone())
        .unwrap_or_else(|| fallback.to_string())
}

/// The namespace on a connection.
pub fn namespace_on(settings: &Settings, conn: &Connection, c: &Canary) -> String {
    namespace_of(settings, &conn.namespace, c)
}

/// The runtime of a command that talks to a cluster (two workers: CI runners are small).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Infra(format!("starting the runtime: {e}")))
}
