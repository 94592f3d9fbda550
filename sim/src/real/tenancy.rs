//! Namespaces of one tenant on a shared real cluster: every namespace a client names (`test`,
//! `default`, …) lives on the server as `<prefix><name>`, so many tests share one apiserver
//! without seeing each other. Requests are rewritten on the way in (paths, the `namespace`
//! fields of bodies, a Namespace's own name, field selectors) and the prefix is removed from
//! everything on the way out. Cluster-scoped custom objects keep their names (they are shared)
//! and carry the tenant's label. An empty prefix changes nothing. Must not touch anything else.

use serde_json::Value;

/// The label that marks a cluster-scoped custom object with the tenant that wrote it.
pub const TENANT_LABEL: &str = "canary-sim.dev/tenant";

/// A tenant's namespace prefix (empty: the whole cluster, unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tenancy {
    prefix: String,
}

impl Tenancy {
    /// A tenant whose namespaces carry `prefix` on the server (`""`: no rewriting).
    pub fn new(prefix: &str) -> Tenancy {
        Tenancy {
            prefix: prefix.to_string(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server's name for the client's namespace `ns`.
    pub fn outward(&self, ns: &str) -> String {
        if self.prefix.is_empty() || ns.is_empty() || ns.starts_with(&self.prefix) {
            return ns.to_string();
        }
        format!("{}{ns}", self.prefix)
    }

    /// The client's name for the server's namespace `ns`, `None` when it is not the tenant's.
    pub fn inward(&self, ns: &str) -> Option<String> {
        if self.prefix.is_empty() {
            return Some(ns.to_string());
        }
        ns.strip_prefix(&self.prefix).map(str::to_string)
    }

    /// A request path: the segment after `/namespaces/` gets the prefix.
    pub fn path(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            return path.to_string();
        }
        let mut out = Vec::new();
        let mut after_namespaces = false;
        for seg in path.split('/') {
            match after_namespaces && !seg.is_empty() {
                true => out.push(self.outward(seg)),
                false => out.push(seg.to_string()),
            }
            after_namespaces = seg == "namespaces";
        }
        out.join("/")
    }

    /// A raw query string: `namespace=<ns>` terms of field selectors get the prefix.
    pub fn query(&self, query: &str) -> String {
        if self.prefix.is_empty() || !query.contains("namespace") {
            return query.to_string();
        }
        query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if k == "fieldSelector" => format!("{k}={}", self.selector(v)),
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    fn selector(&self, encoded: &str) -> String {
        // `metadata.namespace%3Dtest` or `metadata.namespace=test`, comma-separated terms.
        let decoded = encoded
            .replace("%3D", "=")
            .replace("%3d", "=")
            .replace("%2C", ",");
        decoded
            .split(',')
            .map(|term| match term.split_once('=') {
                Some((field, v)) if field.ends_with("namespace") => {
                    format!("{field}%3D{}", self.outward(v))
                }
                _ => term.replace('=', "%3D"),
            })
            .collect::<Vec<_>>()
            .join("%2C")
    }

    /// A JSON request body: every `"namespace": "<ns>"` field, and a Namespace's own name. A
    /// cluster-scoped custom object (Kuma's TrafficRoute) gets the tenant's label, so only its
    /// tenant mirrors it.
    pub fn body(&self, body: &mut Value) {
        if self.prefix.is_empty() {
            return;
        }
        if body["kind"] == "Namespace"
            && let Some(name) = body["metadata"]["name"].as_str()
        {
            body["metadata"]["name"] = Value::String(self.outward(name));
        }
        if let Some(kind) = body["kind"].as_str()
            && crate::resources::RESOURCES
                .iter()
                .any(|r| r.kind == kind && !r.namespaced && !r.builtin)
            && body["metadata"].is_object()
        {
            let labels = &mut body["metadata"]["labels"];
            if !labels.is_object() {
                *labels = Value::Object(Default::default());
            }
            labels[TENANT_LABEL] = Value::String(self.label());
        }
        self.namespaces(body);
    }

    /// The tenant's label value: the prefix without its trailing dash.
    pub fn label(&self) -> String {
        self.prefix.trim_end_matches('-').to_string()
    }

    fn namespaces(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    match (k.as_str(), &*child) {
                        ("namespace", Value::String(ns)) => {
                            *child = Value::String(self.outward(ns))
                        }
                        _ => self.namespaces(child),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.namespaces(i)),
            _ => {}
        }
    }

    /// Response bytes with the prefix removed wherever it appears.
    pub fn response(&self, bytes: &[u8]) -> Vec<u8> {
        if self.prefix.is_empty() {
            return bytes.to_vec();
        }
        let p = self.prefix.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(p) {
                i += p.len();
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_bodies_and_answers_are_rewritten_both_ways() {
        let t = Tenancy::new("t1-");
        assert_eq!(
            t.path("/apis/apps/v1/namespaces/test/deployments/web"),
            "/apis/apps/v1/namespaces/t1-test/deployments/web"
        );
        assert_eq!(
            t.path("/api/v1/namespaces/test"),
            "/api/v1/namespaces/t1-test"
        );
        assert_eq!(t.path("/api/v1/namespaces"), "/api/v1/namespaces");
        let mut ns = json!({"kind": "Namespace", "metadata": {"name": "test"}});
        t.body(&mut ns);
        assert_eq!(ns["metadata"]["name"], "t1-test");
        let mut ev = json!({"metadata": {"namespace": "test"}, "involvedObject": {"namespace": "test", "name": "test"}});
        t.body(&mut ev);
        assert_eq!(ev["involvedObject"]["namespace"], "t1-test");
        assert_eq!(ev["involvedObject"]["name"], "test");
        assert_eq!(
            t.query("fieldSelector=involvedObject.namespace%3Dtest&limit=5"),
            "fieldSelector=involvedObject.namespace%3Dt1-test&limit=5"
        );
        assert_eq!(
            t.response(br#"{"namespace":"t1-test","msg":"namespaces \"t1-gone\" not found"}"#),
            br#"{"namespace":"test","msg":"namespaces \"gone\" not found"}"#.to_vec()
        );
        assert_eq!(t.inward("t1-test").as_deref(), Some("test"));
        assert_eq!(t.inward("other"), None);
        assert_eq!(
            Tenancy::default().path("/api/v1/namespaces/test"),
            "/api/v1/namespaces/test"
        );
    }

    #[test]
    fn tenants_started_at_once_never_share_a_prefix() {
        let prefixes: std::collections::BTreeSet<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..50)
                            .map(|_| crate::real::new_tenant().prefix().to_string())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        assert_eq!(prefixes.len(), 400);
        assert!(
            prefixes
                .iter()
                .all(|p| crate::real::mirror::tenant_namespace(&format!("{p}test")))
        );
    }
}
