//! The Kubernetes REST surface: routes a request to discovery, OpenAPI or the store, and turns
//! the result into a response body. Must not know about sockets (see `server.rs`).

use crate::discovery;
use crate::resources::{self, Resource};
use crate::selector::Selector;
use crate::state::State;
use crate::status::ApiError;
use crate::store::{Part, PatchKind, Store};
use serde_json::{Value, json};

/// One request, already read from the socket.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes `a=b&c=d%20e` (with `+` as a space, as Go's client encodes selectors).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What to answer.
pub type Reply = Result<(u16, Value), ApiError>;

/// Where a resource path points.
struct Target<'a> {
    res: &'static Resource,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_target(path: &str) -> Option<Target<'_>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, rest @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            (Some(*ns), [&[*plural][..], rest].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let res = resources::find(group, version, rest.first()?)?;
    Some(Target {
        res,
        namespace,
        name: rest.get(1).copied(),
        sub: rest.get(2).copied(),
    })
}

/// Handles one API request against the state.
pub fn handle(state: &mut State, req: &Request) -> Reply {
    let path = req.path.as_str();
    match (req.method.as_str(), path) {
        ("GET", "/version") => return Ok((200, discovery::version())),
        ("GET", "/api") => return Ok((200, discovery::core_versions())),
        ("GET", "/apis") => return Ok((200, discovery::groups())),
        ("GET", "/openapi/v3") => return Ok((200, discovery::openapi_index())),
        _ => {}
    }
    if let Some(doc) = path.strip_prefix("/openapi/v3/") {
        return discovery::openapi_doc(doc)
            .map(|d| (200, d))
            .ok_or_else(|| ApiError::no_route(path));
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", v] => {
            return discovery::resources("", v)
                .map(|d| (200, d))
                .ok_or_else(|| ApiError::no_route(path));
        }
        ["apis", g] => {
            return discovery::group(g)
                .map(|d| (200, d))
                .ok_or_else(|| ApiError::no_route(path));
        }
        ["apis", g, v] => {
            return discovery::resources(g, v)
                .map(|d| (200, d))
                .ok_or_else(|| ApiError::no_route(path));
        }
        _ => {}
    }
    let target = parse_target(path).ok_or_else(|| ApiError::no_route(path))?;
    if matches!(req.param("watch"), Some("true" | "1")) {
        return Err(ApiError::method_not_allowed(
            "watch is not supported by canary-sim; poll with get or list instead",
        ));
    }
    if target.res.kind == "Pod" {
        return pods(state, req, &target);
    }
    let dry_run = req.param("dryRun").is_some();
    if dry_run {
        let mut scratch: Store = state.store.clone();
        return resource(&mut scratch, req, &target);
    }
    resource(&mut state.store, req, &target)
}

fn body_json(req: &Request) -> Result<Value, ApiError> {
    if req
        .content_type
        .as_deref()
        .is_some_and(|c| c.contains("protobuf") || c.contains("cbor"))
    {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format ({}) - accepted media types include: application/json, application/yaml",
            req.content_type.as_deref().unwrap_or_default()
        )));
    }
    let yaml = req
        .content_type
        .as_deref()
        .is_some_and(|c| c.contains("yaml"));
    if yaml {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

fn selectors(req: &Request) -> Result<(Selector, Selector), ApiError> {
    let labels =
        Selector::parse(req.param("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
    let fields =
        Selector::parse(req.param("fieldSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn resource(store: &mut Store, req: &Request, t: &Target<'_>) -> Reply {
    let ns = t.namespace.unwrap_or("");
    if t.res.namespaced && t.namespace.is_none() && t.name.is_some() {
        return Err(ApiError::no_route(&req.path));
    }
    match (req.method.as_str(), t.name, t.sub) {
        ("GET", None, None) => {
            let (labels, fields) = selectors(req)?;
            Ok((200, store.list(t.res, t.namespace, &labels, &fields)))
        }
        ("POST", None, None) => {
            if t.res.namespaced && t.namespace.is_none() {
                return Err(ApiError::no_route(&req.path));
            }
            store.create(t.res, ns, body_json(req)?).map(|v| (201, v))
        }
        ("DELETE", None, None) => {
            let (labels, fields) = selectors(req)?;
            let names: Vec<String> = store
                .list_items(t.res, t.namespace, &labels, &fields)
                .iter()
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            for n in &names {
                store.delete(t.res, ns, n)?;
            }
            Ok((
                200,
                store.list(
                    t.res,
                    t.namespace,
                    &Selector::default(),
                    &Selector::default(),
                ),
            ))
        }
        ("GET", Some(name), None) => store.get(t.res, ns, name).map(|v| (200, v)),
        ("GET", Some(name), Some("status")) if t.res.status => {
            store.get(t.res, ns, name).map(|v| (200, v))
        }
        ("PUT", Some(name), None) => store
            .replace(t.res, ns, name, body_json(req)?, Part::Main)
            .map(|v| (200, v)),
        ("PUT", Some(name), Some("status")) if t.res.status => store
            .replace(t.res, ns, name, body_json(req)?, Part::Status)
            .map(|v| (200, v)),
        ("PATCH", Some(name), sub @ (None | Some("status"))) => {
            if sub.is_some() && !t.res.status {
                return Err(ApiError::no_route(&req.path));
            }
            let part = if sub.is_some() {
                Part::Status
            } else {
                Part::Main
            };
            let kind = patch_kind(req.content_type.as_deref())?;
            store
                .patch(t.res, ns, name, kind, &body_json(req)?, part)
                .map(|v| (200, v))
        }
        ("DELETE", Some(name), None) => store.delete(t.res, ns, name).map(|v| (200, v)),
        (_, Some(name), Some("scale")) if t.res.scale => scale(store, req, t.res, ns, name),
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on {}",
            req.path
        ))),
    }
}

fn patch_kind(content_type: Option<&str>) -> Result<PatchKind, ApiError> {
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    match ct {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format ({other:?}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
        ))),
    }
}

fn scale_of(dep: &Value) -> Value {
    let selector: Vec<String> = dep["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    let m = &dep["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": dep["spec"]["replicas"]},
        "status": {"replicas": dep["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.join(",")},
    })
}

fn scale(store: &mut Store, req: &Request, res: &Resource, ns: &str, name: &str) -> Reply {
    let dep = store.get(res, ns, name)?;
    let current = scale_of(&dep);
    let wanted = match req.method.as_str() {
        "GET" => return Ok((200, current)),
        "PUT" => body_json(req)?,
        "PATCH" => {
            let mut s = current.clone();
            match patch_kind(req.content_type.as_deref())? {
                PatchKind::Json => crate::patch::json(&mut s, &body_json(req)?)
                    .map_err(|why| ApiError::invalid(res, name, why))?,
                PatchKind::Strategic => crate::patch::strategic(&mut s, &body_json(req)?),
                PatchKind::Merge | PatchKind::Apply => {
                    crate::patch::merge(&mut s, &body_json(req)?)
                }
            }
            s
        }
        m => {
            return Err(ApiError::method_not_allowed(format!(
                "{m} is not supported on {}",
                req.path
            )));
        }
    };
    if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str()
        && Some(rv) != dep["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::conflict(res, name));
    }
    let replicas = wanted["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                res,
                name,
                "spec.replicas: Invalid value: must be greater than or equal to 0",
            )
        })?;
    let updated = store.patch(
        res,
        ns,
        name,
        PatchKind::Merge,
        &json!({"spec": {"replicas": replicas}}),
        Part::Main,
    )?;
    Ok((200, scale_of(&updated)))
}

fn pods(state: &mut State, req: &Request, t: &Target<'_>) -> Reply {
    if req.method != "GET" {
        return Err(ApiError::method_not_allowed(
            "pods are read-only in canary-sim (they follow their Deployments)",
        ));
    }
    let (labels, fields) = selectors(req)?;
    let items: Vec<Value> = state
        .controller
        .pods()
        .into_iter()
        .filter(|p| {
            t.namespace
                .is_none_or(|ns| p["metadata"]["namespace"].as_str() == Some(ns))
        })
        .filter(|p| labels.matches_labels(p) && fields.matches_fields(p))
        .collect();
    match t.name {
        None => Ok((
            200,
            json!({"kind": "PodList", "apiVersion": "v1",
                                "metadata": {"resourceVersion": state.store.resource_version().to_string()},
                                "items": items}),
        )),
        Some(name) => items
            .into_iter()
            .find(|p| p["metadata"]["name"].as_str() == Some(name))
            .map(|p| (200, p))
            .ok_or_else(|| ApiError::not_found(t.res, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_handles_plus_and_percent() {
        let q =
            parse_query("labelSelector=role+in+%28canary%29&fieldSelector=metadata.name%3Dx&watch");
        assert_eq!(q[0], ("labelSelector".into(), "role in (canary)".into()));
        assert_eq!(q[1], ("fieldSelector".into(), "metadata.name=x".into()));
        assert_eq!(q[2], ("watch".into(), "".into()));
    }
}
