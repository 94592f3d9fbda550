//! The HTTPRoute rule filters rendered from `spec.service` (reference §6.1): header modifiers,
//! the URL rewrite, mirrors and CORS, in the order Flagger's Gateway API router writes them.
//! Pure; must not decide weights or rules.

use crate::spec::duration::parse_go_duration;
use crate::spec::model::{BackendRef, CorsPolicy, HeaderOperations, Headers, Mirror, Rewrite};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What the filters are rendered from.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServiceFilters<'a> {
    /// `service.headers`.
    pub headers: Option<&'a Headers>,
    /// `service.rewrite`.
    pub rewrite: Option<&'a Rewrite>,
    /// `service.corsPolicy` (only `gatewayapi:v1` renders it).
    pub cors: Option<&'a CorsPolicy>,
    /// `service.mirror`.
    pub mirror: &'a [Mirror],
}

/// The filters every rule of the route carries: request header modifier, response header
/// modifier, URL rewrite, one `RequestMirror` per mirror, then CORS when `cors_supported`.
pub fn render(f: &ServiceFilters, cors_supported: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(h) = f.headers {
        if let Some(ops) = &h.request {
            out.push(header_filter(
                "RequestHeaderModifier",
                "requestHeaderModifier",
                ops,
            ));
        }
        if let Some(ops) = &h.response {
            out.push(header_filter(
                "ResponseHeaderModifier",
                "responseHeaderModifier",
                ops,
            ));
        }
    }
    if let Some(r) = f.rewrite {
        out.push(rewrite(r));
    }
    out.extend(f.mirror.iter().map(|m| mirror(&m.backend_ref)));
    if let Some(c) = f.cors.filter(|_| cors_supported) {
        out.push(cors(c));
    }
    out
}

/// `name: value` pairs sorted by name (a map's order), as Gateway API header lists.
fn header_list(map: &BTreeMap<String, String>) -> Value {
    Value::Array(
        map.iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

fn header_filter(kind: &str, field: &str, ops: &HeaderOperations) -> Value {
    let mut m = Map::new();
    if let Some(set) = ops.set.as_ref().filter(|s| !s.is_empty()) {
        m.insert("set".into(), header_list(set));
    }
    if let Some(add) = ops.add.as_ref().filter(|a| !a.is_empty()) {
        m.insert("add".into(), header_list(add));
    }
    if let Some(remove) = ops.remove.as_ref().filter(|r| !r.is_empty()) {
        m.insert("remove".into(), json!(remove));
    }
    json!({"type": kind, field: m})
}

/// `ReplacePrefixMatch` only when asked for by name; any other type replaces the full path.
fn rewrite(r: &Rewrite) -> Value {
    let mut m = Map::new();
    if let Some(host) = r.authority.as_ref().filter(|a| !a.is_empty()) {
        m.insert("hostname".into(), json!(host));
    }
    if let Some(uri) = r.uri.as_ref().filter(|u| !u.is_empty()) {
        let path = if r.kind.as_deref() == Some("ReplacePrefixMatch") {
            json!({"type": "ReplacePrefixMatch", "replacePrefixMatch": uri})
        } else {
            json!({"type": "ReplaceFullPath", "replaceFullPath": uri})
        };
        m.insert("path".into(), path);
    }
    json!({"type": "URLRewrite", "urlRewrite": m})
}

/// A `RequestMirror` filter toward `b`, with the CRD's defaults (core group, kind Service).
pub fn mirror(b: &BackendRef) -> Value {
    let mut r = Map::new();
    r.insert("group".into(), json!(b.group.as_deref().unwrap_or("")));
    r.insert("kind".into(), json!(b.kind.as_deref().unwrap_or("Service")));
    r.insert("name".into(), json!(b.name));
    if let Some(ns) = &b.namespace {
        r.insert("namespace".into(), json!(ns));
    }
    if let Some(port) = b.port {
        r.insert("port".into(), json!(port));
    }
    json!({"type": "RequestMirror", "requestMirror": {"backendRef": r}})
}

/// The CORS filter: exact origins only (`allowOrigins` string matches have no Gateway API
/// form), `maxAge` in whole seconds when it is a Go duration (else left to the default).
fn cors(c: &CorsPolicy) -> Value {
    let mut m = Map::new();
    let lists = [
        ("allowOrigins", &c.allow_origin),
        ("allowMethods", &c.allow_methods),
        ("allowHeaders", &c.allow_headers),
        ("exposeHeaders", &c.expose_headers),
    ];
    for (key, list) in lists {
        if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
            m.insert(key.into(), json!(list));
        }
    }
    if c.allow_credentials == Some(true) {
        m.insert("allowCredentials".into(), json!(true));
    }
    if let Some(age) = c.max_age.as_deref().and_then(parse_go_duration) {
        m.insert("maxAge".into(), json!(age.as_secs()));
    }
    json!({"type": "CORS", "cors": m})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_are_sorted_and_an_empty_operation_still_renders() {
        let ops = HeaderOperations {
            set: Some(BTreeMap::from([
                ("b".into(), "2".into()),
                ("a".into(), "1".into()),
            ])),
            add: None,
            remove: Some(vec!["z".into(), "y".into()]),
        };
        let headers = Headers {
            request: Some(ops),
            response: Some(HeaderOperations::default()),
        };
        let f = ServiceFilters {
            headers: Some(&headers),
            ..Default::default()
        };
        assert_eq!(
            render(&f, true),
            vec![
                json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {
                    "set": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
                    "remove": ["z", "y"]}}),
                json!({"type": "ResponseHeaderModifier", "responseHeaderModifier": {}}),
            ]
        );
    }

    #[test]
    fn rewrite_replaces_the_full_path_unless_prefix_is_asked_for() {
        let mut r = Rewrite {
            uri: Some("/api".into()),
            authority: Some("example.com".into()),
            kind: None,
        };
        assert_eq!(
            rewrite(&r)["urlRewrite"],
            json!({"hostname": "example.com", "path": {"type": "ReplaceFullPath", "replaceFullPath": "/api"}})
        );
        r.kind = Some("ReplacePrefixMatch".into());
        assert_eq!(
            rewrite(&r)["urlRewrite"]["path"]["replacePrefixMatch"],
            "/api"
        );
    }

    #[test]
    fn cors_takes_exact_origins_and_go_durations_only() {
        let mut c = CorsPolicy {
            allow_origin: Some(vec!["https://example.com".into()]),
            max_age: Some("24h".into()),
            allow_credentials: Some(false),
            ..Default::default()
        };
        let f = |c: &CorsPolicy| {
            render(
                &ServiceFilters {
                    cors: Some(c),
                    ..Default::default()
                },
                true,
            )
        };
        assert_eq!(
            f(&c),
            vec![
                json!({"type": "CORS", "cors": {"allowOrigins": ["https://example.com"], "maxAge": 86400}})
            ]
        );
        c.max_age = Some("1d".into());
        assert!(f(&c)[0]["cors"].get("maxAge").is_none());
        assert!(
            render(
                &ServiceFilters {
                    cors: Some(&c),
                    ..Default::default()
                },
                false
            )
            .is_empty()
        );
    }
}
