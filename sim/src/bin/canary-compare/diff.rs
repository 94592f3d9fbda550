//! The objects each driver left in its lane's namespace, normalised only by what the
//! README documents as deliberate differences (ownership markers, the primary's id annotation,
//! Flux's markers, canary-gate's state and lock) and by what the API server assigns, then
//! flattened to `kind/name path = value` lines and diffed. Every remaining line is a finding.
//! Must not decide anything else.

use crate::lane::Lane;
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds compared.
const KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.k8s.io/v1", "Ingress"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
];

/// Metadata the API server or the controllers assign.
const ASSIGNED: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
];

/// Annotations and labels that differ by design (README, "Differences from Flagger").
const DOCUMENTED_KEYS: &[&str] = &[
    // Ownership: Flagger's ownerReferences, canary-gate's annotation and label.
    "canary-gate.dev/canary",
    "app.kubernetes.io/managed-by",
    // The primary's pod template id.
    "flagger-id",
    "canary-gate.dev/id",
    // Flux's markers Flagger adds.
    "kustomize.toolkit.fluxcd.io/reconcile",
    "helm.toolkit.fluxcd.io/driftDetection",
    // Annotations that describe the target, dropped from the primary by canary-gate.
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// Objects only canary-gate writes, by design: its state and its run lock.
fn documented_object(kind: &str, name: &str) -> bool {
    kind == "ConfigMap" && name.starts_with("canary-gate.")
}

/// The lane's objects, normalised and flattened.
pub fn snapshot(lane: &Lane<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (api_version, kind) in KINDS {
        for mut obj in lane.sim.list(api_version, kind, &lane.ns) {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if documented_object(kind, &name) || name.starts_with("kube-root-ca") {
                continue;
            }
            normalise(&mut obj);
            rename_namespace(&mut obj, &lane.ns);
            flatten(&format!("{}/{name}", kind.to_lowercase()), &obj, &mut out);
        }
    }
    out
}

fn normalise(obj: &mut Value) {
    if let Some(m) = obj["metadata"].as_object_mut() {
        for k in ASSIGNED.iter().chain(&["ownerReferences", "namespace"]) {
            m.remove(*k);
        }
    }
    obj.as_object_mut().map(|o| o.remove("status"));
    // Assigned by the API server: the Services' addresses.
    if let Some(spec) = obj["spec"].as_object_mut() {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(k);
        }
    }
    strip_documented(obj);
}

/// Every string naming the lane's own namespace (a parentRef's, say) reads `test`, the
/// namespace both specs were written for.
fn rename_namespace(v: &mut Value, ns: &str) {
    match v {
        Value::String(s) if s == ns => *s = "test".into(),
        Value::Object(m) => m.values_mut().for_each(|c| rename_namespace(c, ns)),
        Value::Array(a) => a.iter_mut().for_each(|c| rename_namespace(c, ns)),
        _ => {}
    }
}

/// Removes the documented keys from every `labels` and `annotations` map.
fn strip_documented(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "labels" || k == "annotations")
                    && let Some(map) = child.as_object_mut()
                {
                    map.retain(|key, _| !DOCUMENTED_KEYS.contains(&key.as_str()));
                }
                strip_documented(child);
            }
            m.retain(|k, child| {
                !((k == "labels" || k == "annotations")
                    && child.as_object().is_some_and(|c| c.is_empty()))
            });
        }
        Value::Array(a) => a.iter_mut().for_each(strip_documented),
        _ => {}
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                flatten(&format!("{prefix}.{k}"), child, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Differences the README's "Differences from Flagger" table explains: (the line's start, the
/// path's end, the row that explains it).
const EXPLAINED: &[(&str, &str, &str)] = &[
    (
        "- httproute/",
        ".metadata.labels.app",
        "Flagger's route takes the apex Service's selector label when service.apex is set (README: the aliasing row)",
    ),
    (
        "- virtualservice/",
        ".metadata.labels.app",
        "Flagger's route takes the apex Service's selector label when service.apex is set (README: the aliasing row)",
    ),
];

/// Why a diff line is a documented difference, if it is one.
pub fn explained(line: &str) -> Option<&'static str> {
    let path = line.split(" = ").next().unwrap_or(line);
    EXPLAINED
        .iter()
        .find(|(start, end, _)| path.starts_with(start) && path.ends_with(end))
        .map(|(_, _, why)| *why)
}

/// The lines where the two snapshots differ: `- path = v` only Flagger's, `+ path = v` only
/// canary-gate's.
pub fn diff(flagger: &BTreeMap<String, String>, gate: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in flagger {
        if gate.get(k) != Some(v) {
            out.push(format!("- {k} = {v}"));
        }
    }
    for (k, v) in gate {
        if flagger.get(k) != Some(v) {
            out.push(format!("+ {k} = {v}"));
        }
    }
    out.sort_by(|a, b| a[2..].cmp(&b[2..]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(mut obj: Value, ns: &str) -> BTreeMap<String, String> {
        normalise(&mut obj);
        rename_namespace(&mut obj, ns);
        let mut out = BTreeMap::new();
        flatten("deployment/podinfo-primary", &obj, &mut out);
        out
    }

    #[test]
    fn documented_and_assigned_fields_are_not_findings_but_anything_else_is() {
        let flagger = json!({"metadata": {"name": "podinfo-primary", "namespace": "flagger-0",
            "uid": "a", "resourceVersion": "1", "ownerReferences": [{"kind": "Canary"}],
            "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"},
            "labels": {"app": "podinfo-primary"}},
            "spec": {"template": {"metadata": {"annotations": {"flagger-id": "x"}}},
                     "ref": "flagger-0", "replicas": 2},
            "status": {"replicas": 2}});
        let gate = json!({"metadata": {"name": "podinfo-primary", "namespace": "gate-0",
            "uid": "b", "resourceVersion": "7",
            "annotations": {"canary-gate.dev/canary": "gate-0/podinfo"},
            "labels": {"app": "podinfo-primary", "app.kubernetes.io/managed-by": "canary-gate"}},
            "spec": {"template": {"metadata": {"annotations": {"canary-gate.dev/id": "y"}}},
                     "ref": "gate-0", "replicas": 3}});
        let lines = diff(&flat(flagger, "flagger-0"), &flat(gate, "gate-0"));
        assert_eq!(
            lines,
            [
                "- deployment/podinfo-primary.spec.replicas = 2",
                "+ deployment/podinfo-primary.spec.replicas = 3",
            ],
            "only the replicas differ once normalised"
        );
        assert!(lines.iter().all(|l| explained(l).is_none()));
    }

    #[test]
    fn the_routes_apex_label_is_explained_only_on_flaggers_side() {
        assert!(explained("- httproute/podinfo.metadata.labels.app = \"podinfo\"").is_some());
        assert!(explained("+ httproute/podinfo.metadata.labels.app = \"podinfo\"").is_none());
        assert!(explained("- httproute/podinfo.spec.rules[0] = 1").is_none());
    }
}
