//! The real cluster's objects, mirrored into the simulator's store by list and watch, so the
//! data plane, the `sim` metrics provider and tests read them as they read the simulator's own.
//! Only the tenant's namespaces are watched, and names are stored as the tenant sees them.
//! Must not write to the cluster (the kubelet stand-in and the route acceptance do).

use super::http::Upstream;
use super::tenancy::Tenancy;
use crate::resources::{RESOURCES, Resource};
use crate::server::{Shared, lock};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The namespaced kinds, each under one version only (the store keeps one object per group,
/// kind, namespace and name; a kind the cluster does not serve is retried quietly).
fn mirrored(res: &Resource) -> bool {
    res.namespaced && crate::resources::is_canonical(res)
}

/// The collection path of `res` in namespace `ns` (`""`: all namespaces).
pub(crate) fn collection(res: &Resource, ns: &str) -> String {
    let base = match res.group {
        "" => format!("/api/{}", res.version),
        g => format!("/apis/{g}/{}", res.version),
    };
    match ns {
        "" => format!("{base}/{}", res.plural),
        ns => format!("{base}/namespaces/{ns}/{}", res.plural),
    }
}

/// Whether a server namespace belongs to some tenant (`cgt<hex>-…`): the untenanted front
/// leaves those to their tenants.
pub fn tenant_namespace(name: &str) -> bool {
    name.strip_prefix("cgt")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Watches the tenant's namespaces and, in each, every mirrored kind.
pub struct Mirror {
    pub(super) upstream: Upstream,
    pub(super) tenancy: Tenancy,
    pub(super) shared: Shared,
}

impl Mirror {
    fn mine(&self, server_ns: &str) -> bool {
        match self.tenancy.prefix() {
            "" => !tenant_namespace(server_ns),
            p => server_ns.starts_with(p),
        }
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut watchers: HashMap<String, Vec<JoinHandle<()>>> = HashMap::new();
        let namespaces = &RESOURCES[0];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, bool)>();
        let ns_task = {
            let this = self.clone_parts();
            let tx = tx.clone();
            tokio::spawn(async move {
                this.follow(namespaces, "", move |name, present| {
                    let _ = tx.send((name.to_string(), present));
                })
                .await;
            })
        };
        // Cluster-scoped custom kinds: only the objects this tenant wrote (its label).
        let cluster_tasks: Vec<JoinHandle<()>> = RESOURCES
            .iter()
            .filter(|r| !r.namespaced && !r.builtin)
            .map(|res| {
                let this = self.clone_parts();
                tokio::spawn(async move { this.follow(res, "", |_, _| {}).await })
            })
            .collect();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                got = rx.recv() => {
                    let Some((server_ns, present)) = got else { break };
                    if !self.mine(&server_ns) {
                        continue;
                    }
                    match present {
                        true if !watchers.contains_key(&server_ns) => {
                            let tasks: Vec<JoinHandle<()>> = RESOURCES.iter().filter(|r| mirrored(r)).map(|res| {
                                let this = self.clone_parts();
                                let ns = server_ns.clone();
                                tokio::spawn(async move { this.follow(res, &ns, |_, _| {}).await })
                            }).collect();
                            watchers.insert(server_ns, tasks);
                        }
                        false => {
                            for t in watchers.remove(&server_ns).unwrap_or_default() {
                                t.abort();
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        for t in &cluster_tasks {
            t.abort();
        }
        ns_task.abort();
        for t in watchers.into_values().flatten() {
            t.abort();
        }
    }

    fn clone_parts(&self) -> Mirror {
        Mirror {
            upstream: self.upstream.clone(),
            tenancy: self.tenancy.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Lists then watches one kind in `server_ns` (`""`: cluster-scoped), for ever; `seen` hears
    /// of each object's name (as the server names it) and whether it still exists.
    async fn follow(
        &self,
        res: &'static Resource,
        server_ns: &str,
        mut seen: impl FnMut(&str, bool),
    ) {
        let mut path = collection(res, server_ns);
        if !res.namespaced && !res.builtin && !self.tenancy.prefix().is_empty() {
            let label = super::tenancy::TENANT_LABEL.replace('/', "%2F");
            path = format!("{path}?labelSelector={label}%3D{}", self.tenancy.label());
        }
        loop {
            let version = match self.list(res, server_ns, &path, &mut seen).await {
                Some(v) => v,
                None => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            self.watch(res, &path, &version, &mut seen).await;
        }
    }

    /// Replaces the mirror of one collection; the list's resourceVersion.
    async fn list(
        &self,
        res: &Resource,
        server_ns: &str,
        path: &str,
        seen: &mut impl FnMut(&str, bool),
    ) -> Option<String> {
        let resp = self
            .upstream
            .request(reqwest::Method::GET, &self.upstream.url(path))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let list: Value = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
        let ns = self.tenancy.inward(server_ns).unwrap_or_default();
        let mut st = lock(&self.shared);
        st.store.forget(res, &ns);
        for item in list["items"].as_array().into_iter().flatten() {
            let mut obj = item.clone();
            obj["apiVersion"] = Value::String(res.api_version());
            obj["kind"] = Value::String(res.kind.to_string());
            self.put(&mut st.store, res, &obj, true, seen);
        }
        list["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string)
    }

    /// Records one object as the server sent it (`present`: it exists), as the tenant sees it.
    fn put(
        &self,
        store: &mut crate::store::Store,
        res: &Resource,
        server_obj: &Value,
        present: bool,
        seen: &mut impl FnMut(&str, bool),
    ) {
        let server_name = server_obj["metadata"]["name"].as_str().unwrap_or_default();
        seen(server_name, present);
        if res.kind == "Namespace" && !self.mine(server_name) {
            return;
        }
        let text = self.tenancy.response(server_obj.to_string().as_bytes());
        let Ok(obj) = serde_json::from_slice::<Value>(&text) else {
            return;
        };
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        store.mirror(res, &ns, &name, present.then_some(obj));
    }

    /// Follows one watch until it ends or fails.
    async fn watch(
        &self,
        res: &Resource,
        path: &str,
        version: &str,
        seen: &mut impl FnMut(&str, bool),
    ) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{sep}watch=true&resourceVersion={version}&allowWatchBookmarks=true&timeoutSeconds=300",
            self.upstream.url(path)
        );
        let Ok(mut resp) = self
            .upstream
            .request(reqwest::Method::GET, &url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
        else {
            return;
        };
        let mut pending: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let obj = &event["object"];
                match event["type"].as_str() {
                    Some("ADDED" | "MODIFIED") => {
                        self.put(&mut lock(&self.shared).store, res, obj, true, seen);
                    }
                    Some("DELETED") => {
                        self.put(&mut lock(&self.shared).store, res, obj, false, seen);
                    }
                    Some("ERROR") => return,
                    _ => {}
                }
            }
        }
    }
}
