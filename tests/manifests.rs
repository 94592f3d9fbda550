//! What `init` writes, checked from outside: every object validates against Kubernetes' schemas
//! (`kubernetes-validate --strict`), and every request is allowed by the documented RBAC Role
//! (`fixtures/rbac/role.yaml`).

use crate::cluster::Cluster;
use crate::support::root;
use serde_json::Value;
use std::collections::BTreeSet;

/// `(apiGroup, resource, verb)` of an API request, as RBAC sees it.
fn rbac_request(method: &str, path: &str, query: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("".to_string(), rest.to_vec()),
        ["apis", g, _, rest @ ..] => (g.to_string(), rest.to_vec()),
        _ => return None,
    };
    let rest = match rest.as_slice() {
        ["namespaces", _, more @ ..] if !more.is_empty() => more.to_vec(),
        other => other.to_vec(),
    };
    let resource = match rest.as_slice() {
        [plural] | [plural, _] => plural.to_string(),
        [plural, _, sub] => format!("{plural}/{sub}"),
        _ => return None,
    };
    let verb = match (method, rest.len()) {
        ("GET", 1) if query.contains("watch") => "watch",
        ("GET", 1) => "list",
        ("GET", _) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => return None,
    };
    Some((group, resource, verb.to_string()))
}

fn role_rules() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(root().join("fixtures/rbac/role.yaml")).unwrap();
    let docs = serde_saphyr::from_multiple::<Value>(&text).unwrap();
    let role = docs.iter().find(|d| d["kind"] == "Role").unwrap();
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    out.insert((
                        g.as_str().unwrap().into(),
                        r.as_str().unwrap().into(),
                        v.as_str().unwrap().into(),
                    ));
                }
            }
        }
    }
    out
}

fn initialized() -> Cluster {
    let c = Cluster::new();
    c.podinfo(|_| {});
    c.sim.clear_requests();
    let r = c.init("fixtures/k8s/canary.yaml", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    c
}

/// The requests in the simulator's log that `fixtures/rbac/role.yaml` does not allow.
pub fn denied_by_the_role(c: &Cluster) -> BTreeSet<String> {
    let allowed = role_rules();
    let mut denied = BTreeSet::new();
    for e in c.sim.requests() {
        if let Some(req) = rbac_request(&e.method, &e.path, &e.query)
            && !allowed.contains(&req)
        {
            denied.insert(format!("{req:?} ({} {})", e.method, e.path));
        }
    }
    denied
}

#[test]
fn every_request_init_makes_is_allowed_by_the_documented_role() {
    let c = initialized();
    let denied = denied_by_the_role(&c);
    assert!(
        denied.is_empty(),
        "fixtures/rbac/role.yaml must allow: {denied:#?}"
    );
}

#[test]
fn every_object_init_writes_validates_strictly() {
    let tool = "kubernetes-validate";
    if !crate::support::have(tool) {
        assert!(
            !crate::support::required(tool),
            "{tool} is required here but not installed"
        );
        eprintln!("skipped: {tool} is not installed (pip install kubernetes-validate)");
        return;
    }
    let c = initialized();
    let mut written = BTreeSet::new();
    for e in c.sim.requests() {
        if matches!(e.method.as_str(), "POST" | "PUT" | "PATCH") && !e.path.contains("/events") {
            written.insert(e.path.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, path) in written.iter().enumerate() {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (api_version, plural, name) = match parts.as_slice() {
            ["api", v, "namespaces", _, plural, name] => (v.to_string(), *plural, *name),
            ["apis", g, v, "namespaces", _, plural, name] => (format!("{g}/{v}"), *plural, *name),
            // A create: the name is in the body; find it among the objects of that kind below.
            ["api", v, "namespaces", _, plural] => (v.to_string(), *plural, ""),
            ["apis", g, v, "namespaces", _, plural] => (format!("{g}/{v}"), *plural, ""),
            _ => continue,
        };
        let res = canary_gate_sim::resources::RESOURCES
            .iter()
            .find(|r| r.plural == plural && r.api_version() == api_version)
            .unwrap();
        let objects: Vec<Value> = c.sim.list(&res.api_version(), res.kind, "test");
        for mut obj in objects
            .into_iter()
            .filter(|o| name.is_empty() || o["metadata"]["name"] == name)
        {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
            let file = dir.path().join(format!(
                "{i}-{}.json",
                obj["metadata"]["name"].as_str().unwrap()
            ));
            std::fs::write(&file, serde_json::to_string_pretty(&obj).unwrap()).unwrap();
            files.push(file);
        }
    }
    assert!(
        files.len() >= 8,
        "services, deployment, configs, hpa, ingress, state: {files:?}"
    );
    let out = std::process::Command::new(tool)
        // The schemas of the release the tests' apiserver runs (testenv/kube).
        .args(["--strict", "-k", "1.37.0", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} refused:\n{report}");
}
