//! The `kube` back end: a real kube-apiserver, etcd and controller manager ([`cluster`]), and in
//! front of it what the simulator adds to any cluster — the fault layer and request log
//! ([`proxy`]), the data plane and its metrics over the real objects ([`mirror`], [`node`]), and
//! namespaces of one tenant when many share a cluster ([`tenancy`]).
//!
//! ```text
//!  canary-gate ──TLS──> proxy (faults, log, tenancy) ──TLS──> kube-apiserver ── etcd
//!                                                                 │   └── kube-controller-manager
//!  mirror <──list/watch───────────────────────────────────────────┤
//!  node (pods Ready, route acceptance) ──status patches──────────>┘
//!  data plane (mirror + ready pods) ─> /metrics, /_sim/prometheus
//! ```

pub mod binaries;
pub mod cluster;
pub mod front;
pub mod http;
pub mod mirror;
pub mod node;
pub mod proxy;
pub mod tenancy;

use crate::resources::Resource;
use crate::server::{Shared, lock};
use crate::status::ApiError;
use http::Upstream;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tenancy::Tenancy;

/// What a front needs to reach a running cluster (the file `canary-sim serve --backend kube`
/// writes beside its kubeconfig, named by `CANARY_SIM_CLUSTER` for tests).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// `https://127.0.0.1:<port>` of kube-apiserver.
    pub api_url: String,
    /// The admin token.
    pub token: String,
    /// The apiserver's serving certificate chain (PEM), which is also the CA clients trust.
    pub cert_file: PathBuf,
    /// The serving key (PEM).
    pub key_file: PathBuf,
    /// The admin kubeconfig, straight to the apiserver.
    pub kubeconfig: PathBuf,
}

impl ClusterInfo {
    /// What a started cluster offers.
    pub fn of(cluster: &cluster::RealCluster) -> ClusterInfo {
        ClusterInfo {
            api_url: cluster.api_url.clone(),
            token: cluster.token.clone(),
            cert_file: cluster.dir().join("pki/apiserver.crt"),
            key_file: cluster.dir().join("pki/apiserver.key"),
            kubeconfig: cluster.kubeconfig.clone(),
        }
    }

    /// Reads the file a running `canary-sim serve --backend kube` wrote.
    pub fn read(path: &Path) -> Result<ClusterInfo, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the cluster file {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("the cluster file {}: {e}", path.display()))
    }

    /// Writes it (readable by the owner only: it holds the admin token).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// The CA bundle (PEM).
    pub fn ca(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.cert_file)
            .map_err(|e| format!("reading {}: {e}", self.cert_file.display()))
    }

    /// A client with the admin token.
    pub fn admin(&self) -> Result<Upstream, String> {
        Upstream::new(&self.api_url, &self.ca()?, Some(&self.token))
    }
}

/// A fresh tenant prefix (`cgt<hex>-`), unique across the processes and threads sharing a
/// cluster: the process id, a counter within the process, and the clock (for a reused pid).
pub fn new_tenant() -> Tenancy {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let clock = (micros & 0xff_ffff) as u32;
    Tenancy::new(&format!("cgt{:x}a{n:x}a{clock:x}-", std::process::id()))
}

fn collection(res: &Resource, ns: &str) -> String {
    let base = match res.group {
        "" => format!("/api/{}", res.version),
        g => format!("/apis/{g}/{}", res.version),
    };
    match (res.namespaced, ns) {
        (true, ns) => format!("{base}/namespaces/{ns}/{}", res.plural),
        (false, _) => format!("{base}/{}", res.plural),
    }
}

/// Direct reads and writes of the tenant's objects (the test harness's own requests: they skip
/// the proxy, so they are neither faulted nor logged, as with the simulator's handle).
#[derive(Clone)]
pub struct Direct {
    /// The apiserver, as admin.
    pub admin: Upstream,
    /// The tenant.
    pub tenancy: Tenancy,
}

impl Direct {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let body = body.map(|mut b| {
            self.tenancy.body(&mut b);
            b
        });
        let (code, answer) = self
            .admin
            .json(method, path, content_type, body.as_ref())
            .await
            .map_err(|e| ApiError::from_status(502, &serde_json::json!({"message": e})))?;
        let text = self.tenancy.response(answer.to_string().as_bytes());
        let answer: Value = serde_json::from_slice(&text).unwrap_or_default();
        match code {
            200..=299 => Ok(answer),
            _ => Err(ApiError::from_status(code, &answer)),
        }
    }

    /// Any JSON request under the tenant's namespaces (kinds the simulator does not serve too):
    /// `path` as the tenant names it.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        self.call(method, &self.tenancy.path(path), "application/json", body)
            .await
    }

    /// POST to the object's collection.
    pub async fn create(&self, res: &Resource, ns: &str, obj: Value) -> Result<Value, ApiError> {
        let path = collection(res, &self.tenancy.outward(ns));
        self.call(reqwest::Method::POST, &path, "application/json", Some(obj))
            .await
    }

    /// GET one object.
    pub async fn get(&self, res: &Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        let path = format!("{}/{name}", collection(res, &self.tenancy.outward(ns)));
        self.call(reqwest::Method::GET, &path, "application/json", None)
            .await
    }

    /// PATCH one object with a content type (`application/merge-patch+json`, …).
    pub async fn patch(
        &self,
        res: &Resource,
        ns: &str,
        name: &str,
        content_type: &str,
        patch: Value,
    ) -> Result<Value, ApiError> {
        let path = format!("{}/{name}", collection(res, &self.tenancy.outward(ns)));
        self.call(reqwest::Method::PATCH, &path, content_type, Some(patch))
            .await
    }

    /// Every object of `res` in the tenant's namespace `ns`, sorted by name.
    pub async fn list(&self, res: &Resource, ns: &str) -> Result<Vec<Value>, ApiError> {
        let path = collection(res, &self.tenancy.outward(ns));
        let list = self
            .call(reqwest::Method::GET, &path, "application/json", None)
            .await?;
        let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
        for item in &mut items {
            item["apiVersion"] = Value::String(res.api_version());
            item["kind"] = Value::String(res.kind.to_string());
        }
        items.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        Ok(items)
    }

    /// Deletes every namespace of the tenant (the namespace controller removes their contents).
    pub async fn delete_namespaces(&self) {
        let prefix = self.tenancy.prefix();
        if prefix.is_empty() {
            return;
        }
        let Ok((_, list)) = self
            .admin
            .json(reqwest::Method::GET, "/api/v1/namespaces", "", None)
            .await
        else {
            return;
        };
        for ns in list["items"].as_array().into_iter().flatten() {
            let Some(name) = ns["metadata"]["name"].as_str() else {
                continue;
            };
            if name.starts_with(prefix) {
                let path = format!("/api/v1/namespaces/{name}");
                let _ = self
                    .admin
                    .json(reqwest::Method::DELETE, &path, "", None)
                    .await;
            }
        }
    }
}

/// Runs the traffic of one tick over the mirror and the real cluster's ready pods.
pub fn tick_traffic(shared: &Shared, now: Instant, last: &mut Instant) {
    let mut st = lock(shared);
    let dt = now.saturating_duration_since(*last).as_secs_f64();
    *last = now;
    let pods = node::RealPods::from_store(&st.store);
    let (rps, share) = (st.config.rps, st.config.header_share);
    let st = &mut *st;
    st.dataplane.tick(&st.store, &pods, dt, rps, share);
    st.history.record(now, &st.dataplane);
}
