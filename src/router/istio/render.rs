//! The Istio objects as data (reference §6), pure: the VirtualService spec for a traffic split
//! (canary, A/B, mirroring, session affinity, TCP), the DestinationRule specs, and the split and
//! sticky cookie read back from a VirtualService, with Flagger's rules for each. No I/O; the
//! caller reads and writes the objects.

use crate::rollout::Routes;
use crate::router::gateway_api::render::{duration, set_cookie};
use crate::spec::model::{CorsPolicy, Headers, HttpMatch, Rewrite, SessionAffinity};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The Istio networking group and the version Flagger writes.
pub const API_VERSION: &str = "networking.istio.io/v1beta1";

/// Everything the VirtualService and DestinationRules are rendered from.
#[derive(Clone, Debug)]
pub struct MeshInput<'a> {
    /// The VirtualService's name: the apex Service's.
    pub name: &'a str,
    /// `<apex>-primary`.
    pub primary: &'a str,
    /// `<apex>-canary`.
    pub canary: &'a str,
    /// `service.port`.
    pub port: u16,
    /// `service.portDiscovery`: destinations name the port when an ingress gateway is used.
    pub port_discovery: bool,
    /// `service.appProtocol` is `tcp`: TCP routes instead of HTTP ones.
    pub tcp: bool,
    /// `service.gateways`.
    pub gateways: &'a [String],
    /// `service.hosts`.
    pub hosts: &'a [String],
    /// `service.delegation`.
    pub delegation: bool,
    /// `service.match`.
    pub matches: &'a [HttpMatch],
    /// `analysis.match`: A/B conditions.
    pub ab: &'a [HttpMatch],
    /// `service.timeout`.
    pub timeout: Option<Duration>,
    /// `service.retries`, as written.
    pub retries: Option<&'a Value>,
    /// `service.headers`.
    pub headers: Option<&'a Headers>,
    /// `service.corsPolicy`.
    pub cors: Option<&'a CorsPolicy>,
    /// `service.rewrite` (its URI and authority).
    pub rewrite: Option<&'a Rewrite>,
    /// `service.trafficPolicy`, as written, for both DestinationRules.
    pub traffic_policy: Option<&'a Value>,
    /// `analysis.sessionAffinity`.
    pub affinity: Option<&'a SessionAffinity>,
    /// `analysis.interval`: the primary cookie's lifetime.
    pub interval: Duration,
    /// `analysis.mirrorWeight`: percent of requests mirrored while mirroring.
    pub mirror_percent: u32,
}

/// A serialized spec value without its unset (`null`) fields, as Go's `omitempty` writes it.
fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        other => other,
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    compact(serde_json::to_value(v).unwrap_or(Value::Null))
}

/// The DestinationRule spec for `host` (`<apex>-primary` or `<apex>-canary`).
pub fn destination_rule(input: &MeshInput, host: &str) -> Value {
    let mut spec = Map::new();
    spec.insert("host".into(), json!(host));
    if let Some(p) = input.traffic_policy {
        spec.insert("trafficPolicy".into(), p.clone());
    }
    Value::Object(spec)
}

/// The VirtualService's hosts: `service.hosts` plus the apex Service unless it (or `*`) is
/// there; none for a delegate.
fn hosts(input: &MeshInput) -> Vec<String> {
    if input.delegation {
        return Vec::new();
    }
    let mut hosts = input.hosts.to_vec();
    if !hosts.iter().any(|h| h == input.name || h == "*") {
        hosts.push(input.name.to_string());
    }
    hosts
}

/// `service.gateways`, or the `mesh` gateway when none is given; none for a delegate.
fn gateways(input: &MeshInput) -> Vec<String> {
    match (input.delegation, input.gateways.is_empty()) {
        (true, _) => Vec::new(),
        (false, true) => vec!["mesh".to_string()],
        (false, false) => input.gateways.to_vec(),
    }
}

/// A weighted destination; it names the port when port discovery is on and traffic enters
/// through an ingress gateway (or a delegating VirtualService).
fn destination(input: &MeshInput, host: &str, weight: u32) -> Value {
    let through_gateway = input.gateways.first().is_some_and(|g| g != "mesh");
    let mut dest = json!({"host": host});
    if input.port_discovery && (through_gateway || input.delegation) {
        dest["port"] = json!({"number": input.port});
    }
    json!({"destination": dest, "weight": weight})
}

/// Each A/B (or cookie) condition combined with each service match: the service match with
/// the condition's headers and source labels in place of its own.
fn merged(conditions: &[Value], defaults: &[HttpMatch]) -> Vec<Value> {
    if defaults.is_empty() {
        return conditions.to_vec();
    }
    let mut out = Vec::new();
    for c in conditions {
        for d in defaults {
            let mut m = to_json(d);
            for key in ["headers", "sourceLabels"] {
                if let Some(v) = c.get(key) {
                    m[key] = v.clone();
                }
            }
            out.push(m);
        }
    }
    out
}

/// One HTTP route with the service's match, rewrite, timeout, retries, CORS policy and
/// headers, sending to `route`.
fn http_route(input: &MeshInput, matches: Vec<Value>, route: Vec<Value>) -> Value {
    let mut r = Map::new();
    if !matches.is_empty() {
        r.insert("match".into(), Value::Array(matches));
    }
    r.insert("route".into(), Value::Array(route));
    if let Some(rw) = input
        .rewrite
        .filter(|r| r.uri.is_some() || r.authority.is_some())
    {
        let mut w = Map::new();
        if let Some(u) = &rw.uri {
            w.insert("uri".into(), json!(u));
        }
        if let Some(a) = &rw.authority {
            w.insert("authority".into(), json!(a));
        }
        r.insert("rewrite".into(), Value::Object(w));
    }
    if let Some(t) = input.timeout {
        r.insert("timeout".into(), json!(duration(t)));
    }
    if let Some(retries) = input.retries {
        r.insert("retries".into(), retries.clone());
    }
    if let Some(c) = input.cors {
        r.insert("corsPolicy".into(), to_json(c));
    }
    if let Some(h) = input.headers {
        r.insert("headers".into(), to_json(h));
    }
    Value::Object(r)
}

fn service_matches(input: &MeshInput) -> Vec<Value> {
    input.matches.iter().map(to_json).collect()
}

/// The `Cookie` header condition of a `name=value` cookie, as Flagger writes it.
fn cookie_condition(cookie: &str) -> Value {
    let (name, value) = cookie.split_once('=').unwrap_or((cookie, ""));
    json!({"headers": {"Cookie": {"regex": format!(".*{name}.*{value}.*")}}})
}

/// The VirtualService spec for `split`, as Flagger's `SetRoutes` writes it: the weighted route
/// (mirroring toward the canary when `split.mirrored`), preceded with session affinity by the
/// sticky routes of `cookie`; with A/B conditions, the matching route and the primary-only
/// fallback instead. A TCP service gets one weighted TCP route.
pub fn spec(input: &MeshInput, split: Routes, cookie: Option<&str>) -> Value {
    let both = |p: u32, c: u32| {
        vec![
            destination(input, input.primary, p),
            destination(input, input.canary, c),
        ]
    };
    let mut out = Map::new();
    let hosts = hosts(input);
    if !hosts.is_empty() {
        out.insert("hosts".into(), json!(hosts));
    }
    let gateways = gateways(input);
    if !gateways.is_empty() {
        out.insert("gateways".into(), json!(gateways));
    }
    if input.tcp {
        let ports: Vec<Value> = input
            .matches
            .iter()
            .map(|m| json!({"port": m.port.unwrap_or(0)}))
            .collect();
        let mut route = json!({"route": both(split.primary, split.canary)});
        if !ports.is_empty() {
            route["match"] = Value::Array(ports);
        }
        out.insert("tcp".into(), json!([route]));
        return Value::Object(out);
    }
    let http = if input.ab.is_empty() {
        weighted_routes(input, split, cookie, both(split.primary, split.canary))
    } else {
        let conditions: Vec<Value> = input.ab.iter().map(to_json).collect();
        vec![
            http_route(
                input,
                merged(&conditions, input.matches),
                both(split.primary, split.canary),
            ),
            http_route(
                input,
                service_matches(input),
                vec![destination(input, input.primary, split.primary)],
            ),
        ]
    };
    out.insert("http".into(), Value::Array(http));
    Value::Object(out)
}

/// The weighted route, with the sticky routes before it under session affinity, and the
/// mirror on the first route while mirroring.
fn weighted_routes(
    input: &MeshInput,
    split: Routes,
    cookie: Option<&str>,
    mut route: Vec<Value>,
) -> Vec<Value> {
    let mut routes = match (input.affinity, cookie) {
        (Some(a), Some(cookie)) => sticky(input, a, cookie, split, &mut route),
        _ => Vec::new(),
    };
    routes.push(http_route(input, service_matches(input), route));
    if split.mirrored {
        routes[0]["mirror"] = json!({"host": input.canary});
        if input.mirror_percent < 100 {
            routes[0]["mirrorPercentage"] = json!({"value": input.mirror_percent});
        }
    }
    routes
}

/// A `Set-Cookie` response header on a destination or route.
fn set_cookie_header(value: String) -> Value {
    json!({"response": {"add": {"Set-Cookie": value}}})
}

/// Session affinity's routes before the weighted one, as Flagger's Istio router writes them.
/// While the canary has traffic: requests carrying `cookie` go to the canary (and, with a
/// primary cookie, requests carrying it to the primary); the weighted destinations set the
/// cookies (the canary's for `maxAge`, the primary's for one analysis interval). Once it has
/// none: requests still carrying `cookie` get it expired (`Max-Age=-1`).
fn sticky(
    input: &MeshInput,
    a: &SessionAffinity,
    cookie: &str,
    split: Routes,
    weighted: &mut [Value],
) -> Vec<Value> {
    let pinned = |c: &str| merged(&[cookie_condition(c)], input.matches);
    if split.canary == 0 {
        let mut expire = http_route(input, pinned(cookie), weighted.to_vec());
        // Indexing creates the missing objects; the service's own headers are kept.
        expire["headers"]["response"]["add"]["Set-Cookie"] = json!(format!("{cookie}; Max-Age=-1"));
        return vec![expire];
    }
    let canary_cookie = set_cookie(cookie, a, a.max_age.into());
    weighted[1]["headers"] = set_cookie_header(canary_cookie);
    let to = |p: u32, c: u32| {
        vec![
            destination(input, input.primary, p),
            destination(input, input.canary, c),
        ]
    };
    let mut routes = vec![http_route(input, pinned(cookie), to(0, 100))];
    if let Some(name) = &a.primary_cookie_name {
        let value = cookie.split_once('=').map_or("", |(_, v)| v);
        let pc = format!("{name}={value}");
        routes.push(http_route(input, pinned(&pc), to(100, 0)));
        let age = input.interval.as_secs();
        weighted[0]["headers"] = set_cookie_header(set_cookie(&pc, a, age));
    }
    routes
}

fn weight_of(route: &Value, host: &str) -> Option<u32> {
    route["route"]
        .as_array()?
        .iter()
        .find(|d| d["destination"]["host"] == host)
        .map(|d| d["weight"].as_u64().unwrap_or(0).min(100) as u32)
}

/// The split a VirtualService holds, as Flagger's `GetRoutes` reads it: the weights of the last
/// route that has the canary as a destination (with session affinity, of the destinations that
/// set a cookie), mirrored when that route mirrors; `None` when neither weight is set.
pub fn split_of(spec: &Value, input: &MeshInput) -> Option<Routes> {
    let kind = if input.tcp { "tcp" } else { "http" };
    let routes = spec[kind].as_array()?;
    let route = routes
        .iter()
        .rfind(|r| weight_of(r, input.canary).is_some())?;
    let mut primary = weight_of(route, input.primary).unwrap_or(0);
    let mut canary = weight_of(route, input.canary).unwrap_or(0);
    if input.affinity.is_some() {
        for d in routes
            .iter()
            .filter_map(|r| r["route"].as_array())
            .flatten()
            .filter(|d| d["headers"].is_object())
        {
            let w = d["weight"].as_u64().unwrap_or(0).min(100) as u32;
            if d["destination"]["host"] == input.primary {
                primary = w;
            } else if d["destination"]["host"] == input.canary {
                canary = w;
            }
        }
    }
    let mirrored = !input.tcp
        && route["mirror"]["host"]
            .as_str()
            .is_some_and(|h| !h.is_empty());
    (primary > 0 || canary > 0).then_some(Routes {
        primary,
        canary,
        mirrored,
    })
}

fn cookie_in(header: &Value) -> Option<(String, bool)> {
    let v = header["response"]["add"]["Set-Cookie"].as_str()?;
    let cookie = v.split(';').next().unwrap_or_default().to_string();
    Some((cookie, v.ends_with("; Max-Age=-1")))
}

/// The sticky cookie a VirtualService holds: the one its canary destination sets while the
/// canary has traffic, else the one a route expires.
pub fn cookie_of(spec: &Value, canary: &str) -> Option<String> {
    let routes = spec["http"].as_array()?;
    let set_by_canary = routes
        .iter()
        .filter_map(|r| r["route"].as_array())
        .flatten()
        .filter(|d| d["destination"]["host"] == canary)
        .find_map(|d| cookie_in(&d["headers"]))
        .map(|(c, _)| c);
    set_by_canary.or_else(|| {
        routes
            .iter()
            .filter_map(|r| cookie_in(&r["headers"]))
            .find_map(|(c, expired)| expired.then_some(c))
    })
}
