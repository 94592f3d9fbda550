//! A stand-in for Knative Serving and its Kourier ingress: what the controller does with a
//! Knative Service (`serving.knative.dev/v1`), and the traffic through it.
//!
//! - Reconciling (pure, [`reconcile`]): each new `spec.template` of a Knative Service becomes a
//!   Revision `<service>-0000N`, served by a Deployment `<revision>-deployment` and a Service
//!   `<revision>` selecting `serving.knative.dev/revision: <revision>`. A Revision is `Ready`
//!   once its Deployment has a ready replica. The Knative Service's status names the latest
//!   created and latest ready Revisions and resolves `spec.traffic` (`latestRevision: true` is
//!   the latest ready one; no traffic block sends everything there).
//! - Both back ends apply the writes: the simulator to its store, the real one over the API.
//! - Traffic: a Knative Service gets `canary-gate.dev/sim-rps` requests per second (else the
//!   configured default), split by `status.traffic` percents and counted on Envoy's series as
//!   Kourier names its clusters, `<namespace>/<revision>`.
//!
//! Must not write anything but these objects and statuses.

use crate::controller::Endpoints;
use crate::dataplane::{DataPlane, RPS_ANNOTATION, number_annotation};
use crate::resources::{RESOURCES, Resource};
use crate::selector::Selector;
use crate::store::Store;
use serde_json::{Value, json};
use std::hash::{Hash, Hasher};

/// The group and version of Knative Serving.
pub const API_VERSION: &str = "serving.knative.dev/v1";
/// The label naming a Revision on its pods.
pub const REVISION_LABEL: &str = "serving.knative.dev/revision";
const SERVICE_LABEL: &str = "serving.knative.dev/service";
const HASH_ANNOTATION: &str = "canary-gate.dev/sim-template";

/// A served Knative kind (`Service` or `Revision`).
pub fn knative(kind: &str) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == API_VERSION && r.kind == kind)
        .unwrap_or(&RESOURCES[0])
}

fn core(api_version: &str, kind: &str) -> &'static Resource {
    crate::resources::by_kind(api_version, kind).unwrap_or(&RESOURCES[0])
}

/// One write the controller makes.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Create an object (ignored when it exists).
    Create(&'static Resource, String, Value),
    /// Set the `status` of an object.
    Status(&'static Resource, String, String, Value),
}

fn meta(obj: &Value, field: &str) -> String {
    obj["metadata"][field].as_str().unwrap_or("").to_string()
}

fn template_hash(template: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    template.to_string().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The writes that bring every Knative Service's Revisions and status up to date.
pub fn reconcile(store: &Store) -> Vec<Write> {
    let none = Selector::default();
    let mut writes = Vec::new();
    let revisions = store.list_items(knative("Revision"), None, &none, &none);
    for ksvc in store.list_items(knative("Service"), None, &none, &none) {
        let (ns, name) = (meta(&ksvc, "namespace"), meta(&ksvc, "name"));
        let mut own: Vec<&Value> = revisions
            .iter()
            .filter(|r| {
                meta(r, "namespace") == ns
                    && r["metadata"]["labels"][SERVICE_LABEL] == name.as_str()
            })
            .collect();
        own.sort_by_key(|r| meta(r, "name"));
        let hash = template_hash(&ksvc["spec"]["template"]);
        if !own
            .iter()
            .any(|r| r["metadata"]["annotations"][HASH_ANNOTATION] == hash.as_str())
        {
            let revision = format!("{name}-{:05}", own.len() + 1);
            writes.extend(new_revision(&ksvc, &ns, &name, &revision, &hash));
            continue;
        }
        let ready: Vec<(String, bool)> = own
            .iter()
            .map(|r| {
                (
                    meta(r, "name"),
                    deployment_ready(store, &ns, &meta(r, "name")),
                )
            })
            .collect();
        for (r, (rev, is_ready)) in own.iter().zip(&ready) {
            let status = json!({"conditions": [{"type": "Ready", "status": if *is_ready { "True" } else { "Unknown" }}]});
            if r["status"] != status {
                writes.push(Write::Status(
                    knative("Revision"),
                    ns.clone(),
                    rev.clone(),
                    status,
                ));
            }
        }
        let status = service_status(&ksvc, &ready);
        if ksvc["status"] != status {
            writes.push(Write::Status(knative("Service"), ns, name, status));
        }
    }
    writes
}

fn deployment_ready(store: &Store, ns: &str, revision: &str) -> bool {
    let name = format!("{revision}-deployment");
    store
        .get(core("apps/v1", "Deployment"), ns, &name)
        .is_ok_and(|d| d["status"]["readyReplicas"].as_i64().unwrap_or(0) > 0)
}

/// A Revision, its Deployment and its Service.
fn new_revision(ksvc: &Value, ns: &str, name: &str, revision: &str, hash: &str) -> Vec<Write> {
    let template = &ksvc["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[REVISION_LABEL] = json!(revision);
    labels[SERVICE_LABEL] = json!(name);
    let port = template["spec"]["containers"][0]["ports"][0]["containerPort"]
        .as_i64()
        .unwrap_or(8080);
    let rev = json!({
        "apiVersion": API_VERSION, "kind": "Revision",
        "metadata": {"name": revision, "namespace": ns,
            "labels": {SERVICE_LABEL: name, "serving.knative.dev/configuration": name},
            "annotations": {HASH_ANNOTATION: hash}},
        "spec": template["spec"],
    });
    // Knative names the containers it runs (`user-container`); a pod template needs names.
    let mut pod_spec = template["spec"].clone();
    for (i, c) in pod_spec["containers"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if c["name"].as_str().is_none_or(str::is_empty) {
            c["name"] = json!(if i == 0 {
                "user-container".to_string()
            } else {
                format!("user-container-{i}")
            });
        }
    }
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("{revision}-deployment"), "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {REVISION_LABEL: revision}},
            "template": {"metadata": {"labels": labels, "annotations": template["metadata"]["annotations"]},
                "spec": pod_spec},
        },
    });
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": revision, "namespace": ns, "labels": {REVISION_LABEL: revision}},
        "spec": {"selector": {REVISION_LABEL: revision},
            "ports": [{"name": "http", "port": 80, "targetPort": port}]},
    });
    vec![
        Write::Create(knative("Revision"), ns.into(), rev),
        Write::Create(core("apps/v1", "Deployment"), ns.into(), deployment),
        Write::Create(core("v1", "Service"), ns.into(), service),
    ]
}

/// The Knative Service's status from its Revisions (`(name, ready)`, oldest first).
fn service_status(ksvc: &Value, revisions: &[(String, bool)]) -> Value {
    let latest = revisions.last().map(|r| r.0.clone()).unwrap_or_default();
    let ready = revisions.iter().rev().find(|r| r.1).map(|r| r.0.clone());
    let ready_name = ready.clone().unwrap_or_default();
    let traffic: Vec<Value> = match ksvc["spec"]["traffic"].as_array().filter(|t| !t.is_empty()) {
        None => vec![json!({"revisionName": ready_name, "latestRevision": true, "percent": 100})],
        Some(block) => block
            .iter()
            .map(|t| {
                let mut out = t.clone();
                if t["latestRevision"] == true {
                    out["revisionName"] = json!(ready_name);
                } else {
                    out["latestRevision"] = json!(false);
                }
                out
            })
            .collect(),
    };
    json!({
        "observedGeneration": ksvc["metadata"]["generation"],
        "latestCreatedRevisionName": latest,
        "latestReadyRevisionName": ready,
        "traffic": traffic,
        "conditions": [{"type": "Ready", "status": if ready.is_some() { "True" } else { "Unknown" }}],
    })
}

/// Applies `writes` to the simulator's own store.
pub fn apply_to_store(store: &mut Store, writes: Vec<Write>) {
    for w in writes {
        match w {
            Write::Create(res, ns, body) => {
                let _ = store.create(res, &ns, body);
            }
            Write::Status(res, ns, name, status) => {
                let key = Store::key_of(res, &ns, &name);
                store.update_with(&key, |o| o["status"] = status);
            }
        }
    }
}

impl DataPlane {
    /// Sends `dt` seconds of traffic through every Knative Service.
    pub(crate) fn tick_knative(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
    ) {
        let none = Selector::default();
        for ksvc in store.list_items(knative("Service"), None, &none, &none) {
            let (ns, name) = (meta(&ksvc, "namespace"), meta(&ksvc, "name"));
            let rps = number_annotation(&ksvc, RPS_ANNOTATION).unwrap_or(default_rps);
            let key = format!("knative/{ns}/{name}");
            let n = self.take(key.clone(), rps * dt);
            let split: Vec<(String, f64)> = ksvc["status"]["traffic"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some((
                        t["revisionName"].as_str()?.to_string(),
                        t["percent"].as_f64()?,
                    ))
                })
                .filter(|(rev, _)| !rev.is_empty())
                .collect();
            let weights: Vec<f64> = split.iter().map(|s| s.1).collect();
            let counts = self.split_by_weight(&key, n, &weights);
            for ((revision, _), k) in split.iter().zip(counts) {
                let cluster = crate::envoy::cluster(&format!("{ns}/{revision}"));
                self.envoy_serve(store, controller, &ns, revision, cluster, k);
            }
        }
    }
}
