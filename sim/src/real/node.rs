//! What a real cluster's nodes and Gateway controller would do, over the real API: pods the
//! ReplicaSet controller made become `Running`/`Ready` after `ready_after` (never, for a
//! template annotated `canary-gate.dev/sim-ready: "false"`, so the deployment controller reports
//! `ProgressDeadlineExceeded` itself); HTTPRoutes get the acceptance the simulator's Gateway
//! controller decides; Knative Services get the Revisions, Deployments, Services and statuses
//! the Knative stand-in (`crate::knative`) decides; the ready pods are the data plane's
//! endpoints. Reads the mirror, writes only those.

use super::http::Upstream;
use super::tenancy::Tenancy;
use crate::clock::now_rfc3339;
use crate::controller::{Controller, Endpoints, PodSet, READY_ANNOTATION};
use crate::resources::RESOURCES;
use crate::selector::Selector;
use crate::server::{Shared, lock};
use crate::store::{Key, Store};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

fn kind(k: &str) -> &'static crate::resources::Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == k)
        .unwrap_or(&RESOURCES[0])
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Ready pods grouped as the simulator's pod sets (one per owner and template hash).
pub struct RealPods(Vec<PodSet>);

impl RealPods {
    /// The ready pods in the mirror.
    pub fn from_store(store: &Store) -> RealPods {
        let mut sets: BTreeMap<(String, String, String), PodSet> = BTreeMap::new();
        for (key, pod) in store.all_of(kind("Pod")) {
            if !ready(&pod) || pod["metadata"]["deletionTimestamp"].is_string() {
                continue;
            }
            let meta = &pod["metadata"];
            // A ReplicaSet's pods carry its template hash; a DaemonSet's, its revision's.
            let labels = &meta["labels"];
            let hash = labels["pod-template-hash"]
                .as_str()
                .or(labels["controller-revision-hash"].as_str())
                .unwrap_or("")
                .to_string();
            let owner = meta["ownerReferences"][0]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let deployment = owner
                .strip_suffix(&format!("-{hash}"))
                .unwrap_or(&owner)
                .to_string();
            let set = sets
                .entry((key.namespace.clone(), deployment.clone(), hash.clone()))
                .or_insert_with(|| PodSet {
                    namespace: key.namespace.clone(),
                    deployment,
                    hash,
                    template: json!({"metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
                        "spec": pod["spec"]}),
                    count: 0,
                    ready: true,
                    since: meta["creationTimestamp"].as_str().unwrap_or("").to_string(),
                    names: Vec::new(),
                });
            set.count += 1;
            set.names.push(key.name.clone());
        }
        RealPods(sets.into_values().collect())
    }
}

impl Endpoints for RealPods {
    fn endpoints(&self, namespace: &str, selector: &Selector) -> Vec<PodSet> {
        if selector.is_empty() {
            return Vec::new();
        }
        self.0
            .iter()
            .filter(|p| p.namespace == namespace && selector.matches_labels(&p.template))
            .cloned()
            .collect()
    }
}

/// The kubelet and Gateway-controller stand-ins.
pub struct Node {
    pub(super) upstream: Upstream,
    pub(super) tenancy: Tenancy,
    pub(super) shared: Shared,
    pub(super) ready_after: Duration,
    first_seen: HashMap<String, Instant>,
    marked: HashSet<String>,
    pushed: HashMap<Key, Value>,
}

impl Node {
    /// Stand-ins writing through `upstream` for the tenant's objects.
    pub fn new(
        upstream: Upstream,
        tenancy: Tenancy,
        shared: Shared,
        ready_after: Duration,
    ) -> Node {
        Node {
            upstream,
            tenancy,
            shared,
            ready_after,
            first_seen: HashMap::new(),
            marked: HashSet::new(),
            pushed: HashMap::new(),
        }
    }

    /// One pass: marks due pods ready and reports route acceptance.
    pub async fn tick(&mut self, now: Instant) {
        // Read under the lock without copying the mirror (route acceptance copies it once).
        let shared = self.shared.clone();
        let (due, routes) = {
            let st = lock(&shared);
            (self.due_pods(&st.store, now), self.route_status(&st.store))
        };
        for (ns, name, uid, status) in due {
            let path = format!(
                "/api/v1/namespaces/{}/pods/{name}/status",
                self.tenancy.outward(&ns)
            );
            if self.patch(&path, &status).await {
                self.marked.insert(uid);
            }
        }
        self.knative().await;
        for (key, parents) in routes {
            let path = format!(
                "/apis/gateway.networking.k8s.io/v1/namespaces/{}/httproutes/{}/status",
                self.tenancy.outward(&key.namespace),
                key.name
            );
            let mut body = json!({"status": {"parents": parents}});
            self.tenancy.body(&mut body);
            if self.patch(&path, &body).await {
                self.pushed.insert(key, parents);
            }
        }
    }

    /// The Knative stand-in's writes, over the API.
    async fn knative(&self) {
        use crate::knative::Write;
        let writes = crate::knative::reconcile(&lock(&self.shared).store);
        for w in writes {
            match w {
                Write::Create(res, ns, mut body) => {
                    let path = super::mirror::collection(res, &self.tenancy.outward(&ns));
                    self.tenancy.body(&mut body);
                    let reply = self.upstream.json(
                        reqwest::Method::POST,
                        &path,
                        "application/json",
                        Some(&body),
                    );
                    let _ = reply.await;
                }
                Write::Status(res, ns, name, status) => {
                    let base = super::mirror::collection(res, &self.tenancy.outward(&ns));
                    let _ = self
                        .patch(&format!("{base}/{name}/status"), &json!({"status": status}))
                        .await;
                }
            }
        }
    }

    async fn patch(&self, path: &str, body: &Value) -> bool {
        let reply = self
            .upstream
            .json(
                reqwest::Method::PATCH,
                path,
                "application/merge-patch+json",
                Some(body),
            )
            .await;
        matches!(reply, Ok((code, _)) if code < 300)
    }

    fn due_pods(&mut self, store: &Store, now: Instant) -> Vec<(String, String, String, Value)> {
        let mut due = Vec::new();
        let pods = store.all_of(kind("Pod"));
        let live: HashSet<String> = pods
            .iter()
            .filter_map(|(_, p)| p["metadata"]["uid"].as_str().map(str::to_string))
            .collect();
        self.first_seen.retain(|uid, _| live.contains(uid));
        self.marked.retain(|uid| live.contains(uid));
        for (key, pod) in pods {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
            let since = *self.first_seen.entry(uid.clone()).or_insert(now);
            let never = pod["metadata"]["annotations"][READY_ANNOTATION].as_str() == Some("false");
            if never
                || ready(&pod)
                || self.marked.contains(&uid)
                || pod["metadata"]["deletionTimestamp"].is_string()
                || now.saturating_duration_since(since) < self.ready_after
            {
                continue;
            }
            due.push((key.namespace, key.name, uid, running(&pod)));
        }
        due
    }

    /// HTTPRoutes whose acceptance (as the simulator's Gateway controller decides it) differs
    /// from what the server holds and was not already sent.
    fn route_status(&self, store: &Store) -> Vec<(Key, Value)> {
        let mut decided = store.clone();
        Controller::default().accept_routes(&mut decided);
        let routes = kind("HTTPRoute");
        decided
            .all_of(routes)
            .into_iter()
            .filter_map(|(key, want)| {
                let have = store.get(routes, &key.namespace, &key.name).ok()?;
                let parents = want["status"]["parents"].clone();
                let stale = have["status"]["parents"] != parents;
                (stale && self.pushed.get(&key) != Some(&parents)).then_some((key, parents))
            })
            .collect()
    }
}

/// The status a kubelet reports for a started, ready pod (its containers running and ready).
fn running(pod: &Value) -> Value {
    let now = now_rfc3339();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true,
                "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    json!({"status": {
        "phase": "Running",
        "startTime": now,
        "podIP": "10.244.0.10",
        "podIPs": [{"ip": "10.244.0.10"}],
        "conditions": [condition("PodScheduled"), condition("Initialized"),
            condition("ContainersReady"), condition("Ready")],
        "containerStatuses": containers,
    }})
}
