//! Objects as YAML and the unified diffs `plan` shows: what `run` would create or change.
//!
//! Pure: values in, text out. Server-set metadata (resourceVersion, uid, managedFields, status,
//! ...) is dropped first so a diff shows only what canary-gate would write. Literal container
//! environment values are shown as a short hash: a plan is posted to the job summary and a check
//! run, which others can read, and a value may be a credential; a changed value still shows.

use serde::Serialize;
use serde_json::Value;

/// What `run` would do to one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Create it.
    Create,
    /// Change it.
    Update,
    /// Leave it as it is.
    Unchanged,
}

/// One object in a plan.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectChange {
    /// `deployment/podinfo-primary`.
    pub object: String,
    /// When: `init`, `promotion`, ...
    pub when: String,
    /// What.
    pub change: Change,
    /// The unified diff (empty when unchanged).
    pub diff: String,
}

impl ObjectChange {
    /// The change from `before` (absent: create) to `after`.
    pub fn between(object: &str, when: &str, before: Option<&Value>, after: &Value) -> Self {
        let old = before.map(|b| yaml(&clean(b))).unwrap_or_default();
        let new = yaml(&clean(after));
        let change = match before {
            None => Change::Create,
            Some(_) if old == new => Change::Unchanged,
            Some(_) => Change::Update,
        };
        let diff = if change == Change::Unchanged {
            String::new()
        } else {
            unified(
                &old,
                &new,
                if before.is_some() {
                    object
                } else {
                    "/dev/null"
                },
                object,
            )
        };
        ObjectChange {
            object: object.to_string(),
            when: when.to_string(),
            change,
            diff,
        }
    }
}

const SERVER_SET: &[&str] = &[
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// `v` without what the API server sets (and without nulls).
pub fn clean(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in SERVER_SET {
                meta.remove(*k);
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
    }
    drop_nulls(&mut v);
    hide_env_values(&mut v);
    v
}

/// Every `env[].value` string (a container's literal environment) → `sha256:<8 hex>`.
fn hide_env_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "env"
                    && let Value::Array(items) = x
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(s)) = item.get_mut("value") {
                            *s = fingerprint(s);
                        }
                    }
                } else {
                    hide_env_values(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(hide_env_values),
        _ => {}
    }
}

fn fingerprint(s: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(s.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("(hidden, sha256:{hex})")
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A value as YAML.
pub fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# not representable as YAML: {e}\n"))
}

/// A unified diff with three lines of context.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_update_unchanged() {
        let a = json!({"kind": "Service", "metadata": {"name": "s", "resourceVersion": "7", "uid": "u"}, "spec": {"ports": [{"port": 80}]}, "status": {}});
        let b = json!({"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 8080}]}});
        let created = ObjectChange::between("service/s", "init", None, &b);
        assert_eq!(created.change, Change::Create);
        assert!(
            created.diff.starts_with("--- /dev/null\n+++ service/s\n"),
            "{}",
            created.diff
        );
        let updated = ObjectChange::between("service/s", "init", Some(&a), &b);
        assert_eq!(updated.change, Change::Update);
        assert!(
            updated.diff.contains("-  - port: 80\n+  - port: 8080\n"),
            "{}",
            updated.diff
        );
        assert!(!updated.diff.contains("resourceVersion"));
        let same = ObjectChange::between("service/s", "init", Some(&b), &b);
        assert_eq!((same.change, same.diff.as_str()), (Change::Unchanged, ""));
    }

    #[test]
    fn literal_env_values_are_hidden_but_changes_show() {
        let pod = |v: &str| {
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a",
            "env": [{"name": "DB_PASSWORD", "value": v}, {"name": "FROM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}})
        };
        let c = ObjectChange::between(
            "deployment/a",
            "promotion",
            Some(&pod("hunter2")),
            &pod("swordfish"),
        );
        assert_eq!(c.change, Change::Update);
        assert!(
            !c.diff.contains("hunter2") && !c.diff.contains("swordfish"),
            "{}",
            c.diff
        );
        assert!(
            c.diff.contains("-          value: (hidden, sha256:"),
            "{}",
            c.diff
        );
        assert!(
            c.diff.contains("secretKeyRef"),
            "references are not values: {}",
            c.diff
        );
    }
}
