//! Patches: JSON merge (RFC 7386), JSON patch (RFC 6902, via json-patch) and strategic merge
//! for the built-in kinds (lists merged by their Kubernetes merge keys).

use serde_json::{Map, Value};

/// RFC 7386 merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch.
pub fn json(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &ops).map_err(|e| e.to_string())
}

/// The merge key of a list field, when Kubernetes merges it by key.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "volumeMounts"
        | "imagePullSecrets"
        | "hostAliases"
        | "volumeDevices" => Some("name"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                Some("containerPort")
            } else {
                Some("port")
            }
        }
        _ => None,
    }
}

/// Strategic merge patch as `kubectl apply` and `kubectl patch` send it.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                } else {
                    strategic(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            Value::Array(items) => {
                let key = merge_key(k, items);
                match (key, t.get_mut(k)) {
                    (Some(key), Some(Value::Array(existing))) => merge_list(existing, items, key),
                    _ => {
                        t.insert(
                            k.clone(),
                            Value::Array(items.iter().map(strip_directives).collect()),
                        );
                    }
                }
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key).cloned();
        let pos = id
            .as_ref()
            .and_then(|id| existing.iter().position(|e| e.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (Some(i), false) => strategic(&mut existing[i], item),
            (None, true) => {}
            (None, false) => existing.push(strip_directives(item)),
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut dep = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "v1"}, {"name": "sidecar", "image": "s1"}]}}}});
        strategic(
            &mut dep,
            &json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"name": "app", "image": "v2"}]}}}}),
        );
        assert_eq!(
            dep["spec"]["template"]["spec"]["containers"],
            json!([
            {"name": "app", "image": "v2"}, {"name": "sidecar", "image": "s1"}])
        );
    }

    #[test]
    fn strategic_deletes_and_nulls() {
        let mut obj = json!({"metadata": {"annotations": {"a": "1", "b": "2"}}, "spec": {"ports": [{"port": 80}, {"port": 81}]}});
        strategic(
            &mut obj,
            &json!({"metadata": {"annotations": {"a": null}}, "spec": {"ports": [{"port": 81, "$patch": "delete"}]}}),
        );
        assert_eq!(
            obj,
            json!({"metadata": {"annotations": {"b": "2"}}, "spec": {"ports": [{"port": 80}]}})
        );
    }

    #[test]
    fn json_patch_escapes_and_tests() {
        let mut obj = json!({"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "0"}}});
        json(&mut obj, &json!([{"op": "replace", "path": "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight", "value": "10"}])).unwrap();
        assert_eq!(
            obj["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
            "10"
        );
        assert!(json(&mut obj, &json!([{"op": "test", "path": "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight", "value": "0"}])).is_err());
    }
}
