//! canary-sim: a Kubernetes API subset, a deployment controller and a data plane (NGINX,
//! Skipper, Gateway API, Istio and SMI/Linkerd) over real HTTP on 127.0.0.1, for testing canary-gate end
//! to end (and for its `demo`).
//!
//! ```text
//!  kube client / kubectl ──HTTP──> server.rs ─> api.rs ─> store.rs (objects, rv, GC, patches)
//!                                  │ faults, log, auth       └ defaults.rs, discovery.rs
//!  ticker (every 50 ms) ─> controller.rs (Deployment status, pods, HTTPRoute status)
//!                          ─> dataplane.rs (Ingress, HTTPRoute traffic) ─> promql.rs (snapshots)
//!                             ├ mesh.rs (VirtualService, TrafficSplit traffic)
//!                             └ skipper.rs (class-skipper Ingresses, weighted copies)
//!  Prometheus ──HTTP──> /metrics (nginx_ingress_controller_*, http_request_duration_seconds,
//!                                 istio_requests_total, istio_request_duration_milliseconds_*,
//!                                 response_total, response_latency_ms_*)
//!  canary-gate ──HTTP──> /_sim/prometheus/api/v1/query (promql.rs: Flagger's built-in queries)
//!  canary-gate ──HTTP──> cloud/ (GitHub OIDC, AWS STS/EKS/AMP, Google STS/IAM/OAuth, Entra)
//!                        └ Authenticator ─> server.rs, real/proxy.rs (bearer.rs: EKS/GKE/AKS tokens)
//! ```
//!
//! Not a full API server: no watch (405), no admission beyond the checks in `defaults.rs`,
//! server-side apply approximated as create-or-merge. The store is written here rather than taken
//! from kube-fake-client, which pins kube 4.2 (a second kube major in the lockfile) and whose gaps
//! (`+` in selectors, unsorted lists, generation bumps on metadata changes, no discovery) would
//! each need a patch anyway.

pub mod api;
pub mod apisix;
pub mod bearer;
pub mod client;
mod clock;
pub mod cloud;
pub mod controller;
pub mod dataplane;
mod defaults;
pub mod discovery;
pub mod envoy;
pub mod faults;
pub mod knative;
pub mod kuma;
pub mod mesh;
pub mod patch;
pub mod prometheus;
pub mod promql;
pub mod real;
pub mod resources;
pub mod selector;
pub mod server;
pub mod skipper;
pub mod state;
pub mod status;
pub mod store;
pub mod traefik;

pub use bearer::Authenticator;
pub use controller::ACCEPT_ANNOTATION;
pub use faults::{Faults, LogEntry};

use server::{Shared, lock};
use state::State;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// API port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Metrics port on 127.0.0.1 (0: any free port).
    pub metrics_port: u16,
    /// Time for a Deployment change to become ready.
    pub ready_after: Duration,
    /// Requests per second through each Ingress.
    pub rps: f64,
    /// Share of requests that carry a canary Ingress's header or cookie.
    pub header_share: f64,
    /// Required bearer token (`None`: any token is accepted).
    pub token: Option<String>,
    /// A check on the bearer token; when set, it decides alone (`token` is ignored).
    pub authenticator: Option<Authenticator>,
    /// Where to write the kubeconfig (`None`: a temporary file removed on stop).
    pub kubeconfig: Option<PathBuf>,
    /// How often controllers and traffic advance.
    pub tick: Duration,
    /// The API server behind the simulator's data plane, faults and log.
    pub backend: Backend,
}

/// Which API server the handle's kubeconfig reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The simulator's own store and controllers (fast, in-process).
    #[default]
    Sim,
    /// A real kube-apiserver, etcd and controller manager: a private one started for this handle
    /// (`cluster: None`), or a running one (the file `canary-sim serve --backend kube` wrote),
    /// shared with other handles, each in namespaces of its own.
    Kube {
        /// The cluster file of a running cluster.
        cluster: Option<PathBuf>,
    },
}

impl Backend {
    /// From `CANARY_SIM_BACKEND` (`sim`, the default, or `kube`) and, for `kube`,
    /// `CANARY_SIM_CLUSTER` (a running cluster's file; unset: each handle starts its own).
    pub fn from_env() -> Result<Backend, String> {
        match std::env::var("CANARY_SIM_BACKEND").as_deref() {
            Err(_) | Ok("" | "sim") => Ok(Backend::Sim),
            Ok("kube") => Ok(Backend::Kube {
                cluster: std::env::var_os("CANARY_SIM_CLUSTER")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from),
            }),
            Ok(other) => Err(format!(
                "CANARY_SIM_BACKEND={other:?}: expected sim or kube"
            )),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            metrics_port: 0,
            ready_after: Duration::from_secs(1),
            rps: 10.0,
            header_share: 0.1,
            token: None,
            authenticator: None,
            kubeconfig: None,
            tick: Duration::from_millis(50),
            backend: Backend::Sim,
        }
    }
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A port could not be bound.
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("writing the kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Where.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
    /// The real cluster could not be started or reached.
    #[error("{0}")]
    Kube(String),
}

/// The simulator.
pub struct Sim;

/// A running simulator; stopped (and its temporary kubeconfig removed) on drop.
pub struct SimHandle {
    /// `http://127.0.0.1:<port>`.
    pub api_url: String,
    /// `http://127.0.0.1:<port>/metrics`.
    pub metrics_url: String,
    /// The kubeconfig pointing at `api_url`.
    pub kubeconfig: PathBuf,
    shared: Shared,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    temp_dir: Option<PathBuf>,
    kube: Option<real::front::KubeParts>,
}

fn bind(port: u16) -> Result<std::net::TcpListener, SimError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|source| SimError::Bind { port, source })?;
    l.set_nonblocking(true)
        .map_err(|source| SimError::Bind { port, source })?;
    Ok(l)
}

/// The kubeconfig text for a server URL and token.
pub fn kubeconfig_yaml(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: canary-sim\n  cluster:\n    server: {server}\ncontexts:\n- name: canary-sim\n  context:\n    cluster: canary-sim\n    user: canary-sim\n    namespace: default\ncurrent-context: canary-sim\nusers:\n- name: canary-sim\n  user:\n    token: {token}\n"
    )
}

/// The two-thread runtime a handle's tasks run on.
pub(crate) fn runtime(name: &str) -> Result<tokio::runtime::Runtime, SimError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name(name)
        .build()
        .map_err(SimError::Runtime)
}

/// Where the kubeconfig goes: the configured path, or a temporary directory (returned, to be
/// removed on stop) named after the process and the API port.
pub(crate) fn kubeconfig_path(
    config: &SimConfig,
    api_port: u16,
) -> Result<(PathBuf, Option<PathBuf>), SimError> {
    if let Some(p) = &config.kubeconfig {
        return Ok((p.clone(), None));
    }
    let dir = std::env::temp_dir().join(format!("canary-sim-{}-{api_port}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| SimError::Kubeconfig {
        path: dir.clone(),
        source,
    })?;
    Ok((dir.join("kubeconfig"), Some(dir)))
}

pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-canary-sim");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

impl Sim {
    /// Starts the back end the config names, its data plane and fault layer, and writes the
    /// kubeconfig.
    pub fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        match config.backend.clone() {
            Backend::Sim => Self::start_sim(config),
            Backend::Kube { cluster } => real::front::start(config, cluster),
        }
    }

    /// Binds the ports, starts the simulator on its own runtime thread and writes the kubeconfig.
    fn start_sim(config: SimConfig) -> Result<SimHandle, SimError> {
        let api = bind(config.port)?;
        let metrics = bind(config.metrics_port)?;
        let api_port = api
            .local_addr()
            .map_err(|source| SimError::Bind {
                port: config.port,
                source,
            })?
            .port();
        let metrics_port = metrics
            .local_addr()
            .map_err(|source| SimError::Bind {
                port: config.metrics_port,
                source,
            })?
            .port();
        let api_url = format!("http://127.0.0.1:{api_port}");
        let (kubeconfig, temp_dir) = kubeconfig_path(&config, api_port)?;
        let token = config.token.clone().unwrap_or_else(|| "canary-sim".into());
        let tick = config.tick;
        let shared: Shared = Arc::new(Mutex::new(State::new(config.clone())));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let runtime = runtime("canary-sim")?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), std::io::Error>>();
        let state = shared.clone();
        let policy = bearer::BearerPolicy::of(&config);
        let thread = std::thread::Builder::new()
            .name("canary-sim".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listeners = tokio::net::TcpListener::from_std(api)
                        .and_then(|a| tokio::net::TcpListener::from_std(metrics).map(|m| (a, m)));
                    let (api, metrics) = match listeners {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let s1 = state.clone();
                    let api_task = tokio::spawn(server::serve(api, stop_rx.clone(), move |req| {
                        server::api_request(s1.clone(), policy.clone(), req)
                    }));
                    let s2 = state.clone();
                    let metrics_task =
                        tokio::spawn(server::serve(metrics, stop_rx.clone(), move |req| {
                            server::metrics_request(s2.clone(), req)
                        }));
                    let s3 = state.clone();
                    let mut stop = stop_rx.clone();
                    let ticker = tokio::spawn(async move {
                        let mut interval = tokio::time::interval(tick);
                        loop {
                            tokio::select! {
                                _ = interval.tick() => lock(&s3).tick(Instant::now()),
                                _ = stop.changed() => return,
                            }
                        }
                    });
                    let _ = ready_tx.send(Ok(()));
                    let _ = tokio::join!(api_task, metrics_task, ticker);
                });
            })
            .map_err(SimError::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SimError::Runtime(e)),
            Err(_) => {
                return Err(SimError::Runtime(std::io::Error::other(
                    "the simulator thread stopped",
                )));
            }
        }
        let handle = SimHandle {
            api_url: api_url.clone(),
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            kubeconfig: kubeconfig.clone(),
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
            temp_dir,
            kube: None,
        };
        write_atomically(&kubeconfig, &kubeconfig_yaml(&api_url, &token)).map_err(|source| {
            SimError::Kubeconfig {
                path: kubeconfig.clone(),
                source,
            }
        })?;
        Ok(handle)
    }
}

impl SimHandle {
    /// Every API request so far.
    pub fn requests(&self) -> Vec<LogEntry> {
        lock(&self.shared).log.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared).log.clear();
    }

    /// Sets (or clears, with `Faults::default()`) the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared).injector.set(faults);
    }

    /// Requests the current faults have seen (held ones included): a crash point at request N
    /// is reached when this is N.
    pub fn fault_requests(&self) -> u64 {
        lock(&self.shared).injector.requests()
    }

    /// Creates an object (its `apiVersion`, `kind` and `metadata.namespace` say where), as a
    /// POST would.
    pub fn create(&self, obj: serde_json::Value) -> Result<serde_json::Value, status::ApiError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let res = resources::by_kind(&api_version, &kind).ok_or_else(|| {
            status::ApiError::bad_request(format!("canary-sim does not serve {api_version} {kind}"))
        })?;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        match &self.kube {
            Some(k) => k.block(k.direct.create(res, &ns, obj)),
            None => lock(&self.shared).store.create(res, &ns, obj),
        }
    }

    /// An object, if it exists (pods included).
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let res = resources::by_kind(api_version, kind)?;
        if let Some(k) = &self.kube {
            return k.block(k.direct.get(res, namespace, name)).ok();
        }
        let st = lock(&self.shared);
        if kind == "Pod" {
            return st.controller.pods().into_iter().find(|p| {
                p["metadata"]["namespace"] == namespace && p["metadata"]["name"] == name
            });
        }
        st.store.get(res, namespace, name).ok()
    }

    /// Patches an object as `kubectl patch --type <kind>` would (its main part, not `status`).
    pub fn patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        patch_kind: store::PatchKind,
        patch: &serde_json::Value,
    ) -> Result<serde_json::Value, status::ApiError> {
        let res = resources::by_kind(api_version, kind).ok_or_else(|| {
            status::ApiError::bad_request(format!("no kind {api_version} {kind}"))
        })?;
        if let Some(k) = &self.kube {
            let content_type = match patch_kind {
                store::PatchKind::Merge => "application/merge-patch+json",
                store::PatchKind::Json => "application/json-patch+json",
                store::PatchKind::Strategic => "application/strategic-merge-patch+json",
                store::PatchKind::Apply => "application/apply-patch+yaml",
            };
            let patch = patch.clone();
            return k.block(k.direct.patch(res, namespace, name, content_type, patch));
        }
        lock(&self.shared)
            .store
            .patch(res, namespace, name, patch_kind, patch, store::Part::Main)
    }

    /// Every object of a kind in `namespace`, sorted by name, as the API server holds them.
    pub fn list(&self, api_version: &str, kind: &str, namespace: &str) -> Vec<serde_json::Value> {
        let Some(res) = resources::by_kind(api_version, kind) else {
            return Vec::new();
        };
        if let Some(k) = &self.kube {
            return k.block(k.direct.list(res, namespace)).unwrap_or_default();
        }
        let st = lock(&self.shared);
        match kind {
            "Pod" => st
                .controller
                .pods()
                .into_iter()
                .filter(|p| p["metadata"]["namespace"] == namespace)
                .collect(),
            _ => {
                let none = selector::Selector::default();
                st.store.list_items(res, Some(namespace), &none, &none)
            }
        }
    }

    /// The `sim` metrics provider's base URL (Prometheus' query API for Flagger's built-in
    /// queries), on the plain-HTTP metrics port of either back end.
    pub fn prometheus_url(&self) -> String {
        self.metrics_url.replace("/metrics", "/_sim/prometheus")
    }

    /// The back end's API server: `None` for the simulator's own, else the real cluster's
    /// direct access (admin, in the handle's namespaces).
    pub fn real(&self) -> Option<&real::front::KubeParts> {
        self.kube.as_ref()
    }

    /// Runs `f` on the state (objects, controllers, counters) under the lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.shared))
    }

    /// Stops the simulator now (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(k) = &self.kube
            && self.stop.is_some()
        {
            k.block(k.direct.delete_namespaces());
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
