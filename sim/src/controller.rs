//! The deployment and daemonset controllers and the pods they imply.
//!
//! Owns Deployment and DaemonSet `status`. After a spec change (template or replicas) a rollout
//! converges after `ready_after` plus the workload's `minReadySeconds`; a template annotated
//! `canary-gate.dev/sim-ready: "false"` never becomes available and, after the Deployment's
//! `progressDeadlineSeconds`, reports `Progressing=False/ProgressDeadlineExceeded`. A DaemonSet
//! runs one pod on the one node when its node selector admits the node ([`NODE_LABELS`]). Pods
//! are synthesised from what each workload runs, so Service selectors resolve (and the data
//! plane knows which version serves).
//!
//! Also owns HTTPRoute `status.parents`, as the Gateways' controller would report it: accepted
//! by each parent Gateway that exists, refused by one annotated `canary-gate.dev/sim-accept:
//! "false"`, and no entry for a parent with no Gateway.

use crate::clock::now_rfc3339;
use crate::resources::RESOURCES;
use crate::selector::Selector;
use crate::store::{Key, Store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Pod template annotation: `"false"` keeps the pods from ever becoming ready.
pub const READY_ANNOTATION: &str = "canary-gate.dev/sim-ready";
/// Gateway annotation: `"false"` makes the Gateway refuse its HTTPRoutes
/// (`Accepted=False/NotAllowedByListeners`), as a listener's `allowedRoutes` would.
pub const ACCEPT_ANNOTATION: &str = "canary-gate.dev/sim-accept";
/// The `controllerName` in the HTTPRoute status entries the simulator writes.
pub const CONTROLLER_NAME: &str = "canary-gate.dev/canary-sim";

/// A set of identical pods.
#[derive(Clone, Debug)]
pub struct PodSet {
    /// Namespace.
    pub namespace: String,
    /// Owning Deployment.
    pub deployment: String,
    /// Hash of the pod template.
    pub hash: String,
    /// The pod template (labels, annotations, spec).
    pub template: Value,
    /// Pods in the set.
    pub count: i64,
    /// Whether they are ready.
    pub ready: bool,
    /// When the set was created (RFC 3339).
    pub since: String,
    /// The pods' names when they are real objects (empty: synthesised by [`pod_name`]).
    pub names: Vec<String>,
}

/// Where a Service's traffic goes: the ready pod sets its selector picks (the simulator's own
/// pods, or a real cluster's).
pub trait Endpoints {
    /// Ready pod sets in `namespace` whose labels match `selector`.
    fn endpoints(&self, namespace: &str, selector: &Selector) -> Vec<PodSet>;
}

#[derive(Clone, Debug)]
struct Rollout {
    key: Key,
    hash: String,
    desired: i64,
    since: Instant,
    since_wall: String,
    template: Value,
    serving: Option<PodSet>,
}

/// Per-Deployment rollout memory.
#[derive(Debug, Default)]
pub struct Controller {
    rollouts: HashMap<Key, Rollout>,
}

/// A short stable hash of a JSON value (the pod-template-hash).
pub fn template_hash(v: &Value) -> String {
    let text = v.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(h % ALPHABET.len() as u64) as usize] as char);
        h /= ALPHABET.len() as u64;
    }
    out
}

fn kind(k: &str) -> &'static crate::resources::Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == k)
        .unwrap_or(&RESOURCES[0])
}

/// The labels of the simulator's one node, which DaemonSet node selectors are matched against.
pub const NODE_LABELS: &[(&str, &str)] = &[
    ("kubernetes.io/hostname", "canary-sim"),
    ("kubernetes.io/os", "linux"),
    ("kubernetes.io/arch", "amd64"),
];

/// Pods a workload wants: a Deployment's replicas; a DaemonSet's one pod on the node, when its
/// template's node selector matches the node's labels.
fn desired_pods(res_kind: &str, obj: &Value) -> i64 {
    if res_kind == "DaemonSet" {
        let selector = obj["spec"]["template"]["spec"]["nodeSelector"].as_object();
        let fits = selector.into_iter().flatten().all(|(k, v)| {
            NODE_LABELS
                .iter()
                .any(|(nk, nv)| nk == k && v.as_str() == Some(nv))
        });
        return i64::from(fits);
    }
    obj["spec"]["replicas"].as_i64().unwrap_or(1).max(0)
}

impl Controller {
    /// Advances every Deployment's and DaemonSet's status to what `now` implies.
    pub fn tick(&mut self, store: &mut Store, now: Instant, ready_after: Duration) {
        let mut deps = store.all_of(kind("Deployment"));
        deps.extend(store.all_of(kind("DaemonSet")));
        self.rollouts
            .retain(|k, _| deps.iter().any(|(d, _)| d == k));
        for (key, dep) in deps {
            let res_kind = RESOURCES[key.res].kind;
            let desired = desired_pods(res_kind, &dep);
            let template = dep["spec"]["template"].clone();
            let hash = template_hash(&template);
            let r = self.rollouts.entry(key.clone()).or_insert_with(|| Rollout {
                key: key.clone(),
                hash: String::new(),
                desired: -1,
                since: now,
                since_wall: now_rfc3339(),
                template: Value::Null,
                serving: None,
            });
            if r.hash != hash || r.desired != desired {
                r.hash = hash.clone();
                r.desired = desired;
                r.since = now;
                r.since_wall = now_rfc3339();
                r.template = template.clone();
            }
            // Scaling the same template down is immediate: pods without a node are deleted at once.
            if let Some(s) = r.serving.as_mut()
                && s.hash == hash
                && desired <= s.count
            {
                s.count = desired;
                if desired == 0 {
                    r.serving = None;
                }
            }
            let never_ready =
                template["metadata"]["annotations"][READY_ANNOTATION].as_str() == Some("false");
            let elapsed = now.saturating_duration_since(r.since);
            // Pods count as available only `minReadySeconds` after they are ready.
            let min_ready = dep["spec"]["minReadySeconds"].as_u64().unwrap_or(0);
            if !never_ready && elapsed >= ready_after + Duration::from_secs(min_ready) {
                r.serving = (desired > 0).then(|| PodSet {
                    namespace: key.namespace.clone(),
                    deployment: key.name.clone(),
                    hash: hash.clone(),
                    template: template.clone(),
                    count: desired,
                    ready: true,
                    since: r.since_wall.clone(),
                    names: Vec::new(),
                });
            }
            let status = if res_kind == "DaemonSet" {
                daemonset_status(&dep, r)
            } else {
                status_for(&dep, r, never_ready, elapsed)
            };
            store.update_with(&key, |obj| {
                if obj["status"] != status {
                    obj["status"] = status;
                }
            });
        }
    }

    /// Reports each HTTPRoute's acceptance by its parent Gateways in `status.parents`, as the
    /// Gateways' controller would: one entry per `spec.parentRefs[]` whose Gateway exists
    /// (`namespace` defaults to the route's, `kind` to `Gateway`), `Accepted=False/
    /// NotAllowedByListeners` when the Gateway carries [`ACCEPT_ANNOTATION`]`: "false"`, else
    /// `Accepted=True` (and `ResolvedRefs=True`), at the route's generation. A parent that is a
    /// core Service (GAMMA: a mesh route, as Linkerd's policy controller serves it) is accepted
    /// when the Service exists. Parents without a Gateway or Service get no entry (no controller
    /// reports). Writes only when the reported state changed.
    pub fn accept_routes(&self, store: &mut Store) {
        let (Some(routes), Some(gateways), Some(services)) = (
            RESOURCES.iter().find(|r| r.kind == "HTTPRoute"),
            RESOURCES.iter().find(|r| r.kind == "Gateway"),
            RESOURCES.iter().find(|r| r.kind == "Service"),
        ) else {
            return;
        };
        let mut gateways: HashMap<(String, String, bool), bool> = store
            .all_of(gateways)
            .into_iter()
            .map(|(key, gw)| {
                let refuses =
                    gw["metadata"]["annotations"][ACCEPT_ANNOTATION].as_str() == Some("false");
                ((key.namespace, key.name, false), !refuses)
            })
            .collect();
        gateways.extend(
            store
                .all_of(services)
                .into_iter()
                .map(|(key, _)| ((key.namespace, key.name, true), true)),
        );
        for (key, route) in store.all_of(routes) {
            let generation = route["metadata"]["generation"].clone();
            let current = route["status"]["parents"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let parents: Vec<Value> = route["spec"]["parentRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let accepts = gateways.get(&gateway_of(p, &key.namespace)?)?;
                    let accepted = if *accepts {
                        route_condition("Accepted", true, "Accepted", "Accepted by canary-sim")
                    } else {
                        route_condition(
                            "Accepted",
                            false,
                            "NotAllowedByListeners",
                            &format!(
                                "listener does not allow routes from namespace {}",
                                key.namespace
                            ),
                        )
                    };
                    let resolved = route_condition("ResolvedRefs", true, "ResolvedRefs", "");
                    let mut conditions = [accepted, resolved];
                    let previous = current.iter().find(|c| c["parentRef"] == *p);
                    for c in &mut conditions {
                        c["observedGeneration"] = generation.clone();
                        // As in a real cluster, the transition time moves only with the status.
                        let since = previous
                            .and_then(|e| e["conditions"].as_array())
                            .into_iter()
                            .flatten()
                            .find(|old| old["type"] == c["type"] && old["status"] == c["status"])
                            .map_or_else(
                                || json!(now_rfc3339()),
                                |old| old["lastTransitionTime"].clone(),
                            );
                        c["lastTransitionTime"] = since;
                    }
                    Some(json!({
                        "parentRef": p,
                        "controllerName": CONTROLLER_NAME,
                        "conditions": conditions,
                    }))
                })
                .collect();
            if parents != current {
                store.update_with(&key, |obj| obj["status"]["parents"] = json!(parents));
            }
        }
    }

    /// Every pod set: the ready ones that serve, and new ones still starting.
    pub fn pod_sets(&self) -> Vec<PodSet> {
        let mut out = Vec::new();
        for r in self.rollouts.values() {
            let serving_current = r
                .serving
                .as_ref()
                .is_some_and(|s| s.hash == r.hash && s.count == r.desired);
            if let Some(s) = &r.serving {
                out.push(s.clone());
            }
            if !serving_current && r.desired > 0 {
                out.push(PodSet {
                    namespace: r.key.namespace.clone(),
                    deployment: r.key.name.clone(),
                    hash: r.hash.clone(),
                    template: r.template.clone(),
                    count: r.desired,
                    ready: false,
                    since: r.since_wall.clone(),
                    names: Vec::new(),
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.namespace, &a.deployment, &a.hash).cmp(&(&b.namespace, &b.deployment, &b.hash))
        });
        out
    }

    /// Pods as API objects.
    pub fn pods(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for set in self.pod_sets() {
            for i in 0..set.count {
                out.push(pod(&set, i));
            }
        }
        out
    }
}

impl Endpoints for Controller {
    fn endpoints(&self, namespace: &str, selector: &Selector) -> Vec<PodSet> {
        if selector.is_empty() {
            return Vec::new();
        }
        self.pod_sets()
            .into_iter()
            .filter(|p| p.ready && p.namespace == namespace && selector.matches_labels(&p.template))
            .collect()
    }
}

/// The name of pod `i` of a set (what `pods()` lists, or the real pod's name).
pub fn pod_name(set: &PodSet, i: i64) -> String {
    match usize::try_from(i).ok().and_then(|i| set.names.get(i)) {
        Some(name) => name.clone(),
        None => format!("{}-{}-{}", set.deployment, set.hash, suffix(i)),
    }
}

fn pod(set: &PodSet, i: i64) -> Value {
    let mut labels = set.template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels["pod-template-hash"] = json!(set.hash);
    let ready = if set.ready { "True" } else { "False" };
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": pod_name(set, i),
            "namespace": set.namespace,
            "labels": labels,
            "annotations": set.template["metadata"]["annotations"].clone(),
            "uid": format!("pod-{}-{}-{i}", set.deployment, set.hash),
            "creationTimestamp": set.since,
            "resourceVersion": "1",
        },
        "spec": set.template["spec"].clone(),
        "status": {
            "phase": if set.ready { "Running" } else { "Pending" },
            "conditions": [{"type": "Ready", "status": ready}, {"type": "ContainersReady", "status": ready}],
            "podIP": format!("10.244.0.{}", 10 + i),
        },
    })
}

fn suffix(i: i64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz";
    let mut n = (i as u64).wrapping_mul(2_654_435_761) + 12_345;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % 20) as usize] as char;
            n /= 20;
            c
        })
        .collect()
}

/// The (namespace, name, is a Service) of the Gateway or GAMMA Service a route's `parentRef`
/// names, if it names one.
fn gateway_of(parent_ref: &Value, route_namespace: &str) -> Option<(String, String, bool)> {
    let group = parent_ref["group"]
        .as_str()
        .unwrap_or("gateway.networking.k8s.io");
    let kind = parent_ref["kind"].as_str().unwrap_or("Gateway");
    let service = match (group, kind) {
        ("gateway.networking.k8s.io", "Gateway") => false,
        ("" | "core", "Service") => true,
        _ => return None,
    };
    let name = parent_ref["name"].as_str()?;
    let namespace = parent_ref["namespace"].as_str().unwrap_or(route_namespace);
    Some((namespace.to_string(), name.to_string(), service))
}

/// A route status condition without its generation and transition time.
fn route_condition(kind: &str, status: bool, reason: &str, message: &str) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
    })
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, since: &str) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastUpdateTime": since,
        "lastTransitionTime": since,
    })
}

fn status_for(dep: &Value, r: &Rollout, never_ready: bool, elapsed: Duration) -> Value {
    let name = dep["metadata"]["name"].as_str().unwrap_or("");
    let generation = dep["metadata"]["generation"].clone();
    let desired = r.desired;
    let serving_now = r
        .serving
        .as_ref()
        .filter(|s| s.hash == r.hash && s.count == desired);
    let (replicas, updated, ready) = match (serving_now, &r.serving) {
        (Some(_), _) => (desired, desired, desired),
        (None, Some(old)) if old.hash == r.hash => (
            desired.max(old.count),
            desired,
            old.count.min(desired.max(old.count)),
        ),
        (None, Some(old)) => (desired + old.count, desired, old.count),
        (None, None) => (desired, desired, 0),
    };
    let deadline = dep["spec"]["progressDeadlineSeconds"]
        .as_u64()
        .unwrap_or(600);
    let available = ready.min(desired.max(ready));
    let rs = format!("{name}-{}", r.hash);
    let progressing = if serving_now.is_some() || desired == 0 {
        condition(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs}\" has successfully progressed."),
            &r.since_wall,
        )
    } else if never_ready && elapsed >= Duration::from_secs(deadline) {
        condition(
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet \"{rs}\" has timed out progressing."),
            &r.since_wall,
        )
    } else {
        condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs}\" is progressing."),
            &r.since_wall,
        )
    };
    let has_min = desired == 0 || available >= 1;
    let available_cond = if has_min {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &r.since_wall,
        )
    } else {
        condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &r.since_wall,
        )
    };
    let mut status = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "terminatingReplicas": 0,
        "conditions": [available_cond, progressing],
    });
    if replicas > available {
        status["unavailableReplicas"] = json!(replicas - available);
    }
    if let Some(map) = status.as_object_mut() {
        for k in [
            "readyReplicas",
            "availableReplicas",
            "updatedReplicas",
            "replicas",
        ] {
            if map.get(k).and_then(Value::as_i64) == Some(0) {
                map.remove(k);
            }
        }
    }
    status
}

/// A DaemonSet's status on the one node: the node runs the new template's pod as soon as the
/// template changes (the old one is replaced, `maxUnavailable: 1`), and it is available once it
/// is ready.
fn daemonset_status(ds: &Value, r: &Rollout) -> Value {
    let desired = r.desired;
    let available = r
        .serving
        .as_ref()
        .filter(|s| s.hash == r.hash)
        .map_or(0, |s| s.count.min(desired));
    let mut status = json!({
        "observedGeneration": ds["metadata"]["generation"].clone(),
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": desired,
        "numberMisscheduled": 0,
        "numberReady": available,
        "updatedNumberScheduled": desired,
        "numberAvailable": available,
    });
    if desired > available {
        status["numberUnavailable"] = json!(desired - available);
    }
    status
}
