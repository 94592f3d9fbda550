//! Starts the `kube` back end behind a [`SimHandle`]: the cluster (or a running one's file), the
//! proxy the kubeconfig points at, the mirror, the node stand-ins and the data plane on one
//! runtime thread; and the handle's direct reads and writes. Must not decide faults or traffic
//! (the shared fault layer and data plane do).

use super::cluster::{RealCluster, kubeconfig_yaml};
use super::mirror::Mirror;
use super::node::Node;
use super::proxy::{self, Proxy};
use super::tenancy::Tenancy;
use super::{ClusterInfo, Direct, new_tenant, tick_traffic};
use crate::server::{self, Shared};
use crate::state::State;
use crate::{SimConfig, SimError, SimHandle};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a handle on the `kube` back end holds beyond the simulator's.
pub struct KubeParts {
    /// The harness's own reads and writes.
    pub direct: Direct,
    /// The runtime the handle's tasks run on (for the direct calls).
    pub runtime: tokio::runtime::Handle,
    /// The cluster this handle started (stopped with it), `None` when attached to a running one.
    pub cluster: Option<RealCluster>,
}

impl KubeParts {
    /// Runs `f` to completion on the handle's runtime, from any thread (a test's runtime too).
    pub fn block<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

fn kube_error(e: impl std::fmt::Display) -> SimError {
    SimError::Kube(e.to_string())
}

fn listener(port: u16) -> Result<std::net::TcpListener, SimError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|source| SimError::Bind { port, source })?;
    l.set_nonblocking(true)
        .map_err(|source| SimError::Bind { port, source })?;
    Ok(l)
}

/// Starts a handle on a real cluster: its own (`cluster: None`) or a running one, as a tenant.
pub fn start(config: SimConfig, cluster: Option<PathBuf>) -> Result<SimHandle, SimError> {
    let (own, info, tenancy) = match cluster {
        Some(file) => (
            None,
            ClusterInfo::read(&file).map_err(kube_error)?,
            new_tenant(),
        ),
        None => {
            let c = RealCluster::start().map_err(kube_error)?;
            let info = ClusterInfo::of(&c);
            (Some(c), info, Tenancy::default())
        }
    };
    let ca = info.ca().map_err(kube_error)?;
    let key = std::fs::read(&info.key_file)
        .map_err(|e| kube_error(format!("reading {}: {e}", info.key_file.display())))?;
    let tls = proxy::tls_config(&ca, &key).map_err(kube_error)?;
    let admin = info.admin().map_err(kube_error)?;
    let api = listener(config.port)?;
    let metrics = listener(config.metrics_port)?;
    let port_of = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let (api_port, metrics_port) = (port_of(&api), port_of(&metrics));
    let api_url = format!("https://127.0.0.1:{api_port}");
    let shared: Shared = Arc::new(Mutex::new(State::new(config.clone())));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runtime = crate::runtime("canary-sim-kube")?;
    let handle = runtime.handle().clone();
    let tasks = Tasks {
        shared: shared.clone(),
        proxy: Arc::new(Proxy {
            upstream: admin.clone(),
            tenancy: tenancy.clone(),
            bearer: crate::bearer::BearerPolicy::of(&config),
        }),
        tls,
        admin: admin.clone(),
        tenancy: tenancy.clone(),
        config: config.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("canary-sim-kube".into())
        .spawn(move || runtime.block_on(tasks.run(api, metrics, stop_rx)))
        .map_err(SimError::Runtime)?;
    let parts = KubeParts {
        direct: Direct {
            admin,
            tenancy: tenancy.clone(),
        },
        runtime: handle,
        cluster: own,
    };
    let (kubeconfig, temp_dir) = crate::kubeconfig_path(&config, api_port)?;
    let sim = SimHandle {
        api_url: api_url.clone(),
        metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
        kubeconfig: kubeconfig.clone(),
        shared,
        stop: Some(stop_tx),
        thread: Some(thread),
        temp_dir,
        kube: Some(parts),
    };
    if !tenancy.prefix().is_empty() {
        sim.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
            .map_err(kube_error)?;
    }
    let token = config.token.clone().unwrap_or_else(|| info.token.clone());
    crate::write_atomically(
        &kubeconfig,
        &kubeconfig_yaml(&api_url, &ca, &token, "default"),
    )
    .map_err(|source| SimError::Kubeconfig {
        path: kubeconfig.clone(),
        source,
    })?;
    Ok(sim)
}

/// The handle's background work.
struct Tasks {
    shared: Shared,
    proxy: Arc<Proxy>,
    tls: Arc<rustls::ServerConfig>,
    admin: super::http::Upstream,
    tenancy: Tenancy,
    config: SimConfig,
}

impl Tasks {
    async fn run(
        self,
        api: std::net::TcpListener,
        metrics: std::net::TcpListener,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let (Ok(api), Ok(metrics)) = (
            tokio::net::TcpListener::from_std(api),
            tokio::net::TcpListener::from_std(metrics),
        ) else {
            return;
        };
        let proxy_task = tokio::spawn(proxy::serve(
            api,
            self.tls.clone(),
            self.shared.clone(),
            self.proxy.clone(),
            stop.clone(),
        ));
        let s = self.shared.clone();
        let metrics_task = tokio::spawn(server::serve(metrics, stop.clone(), move |req| {
            server::metrics_request(s.clone(), req)
        }));
        let mirror = Mirror {
            upstream: self.admin.clone(),
            tenancy: self.tenancy.clone(),
            shared: self.shared.clone(),
        };
        let mirror_task = tokio::spawn(mirror.run(stop.clone()));
        let mut node = Node::new(
            self.admin.clone(),
            self.tenancy.clone(),
            self.shared.clone(),
            self.config.ready_after,
        );
        let mut interval =
            tokio::time::interval(self.config.tick.max(std::time::Duration::from_millis(50)));
        let mut last = Instant::now();
        let mut stopped = stop.clone();
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    let now = Instant::now();
                    node.tick(now).await;
                    tick_traffic(&self.shared, now, &mut last);
                }
                _ = stopped.changed() => break,
            }
        }
        let _ = tokio::join!(proxy_task, metrics_task, mirror_task);
    }
}
