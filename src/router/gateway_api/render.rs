//! The HTTPRoute as data (reference §6.1), pure: the spec for a traffic split, the split and
//! sticky cookie read back from a route, whether the parents accepted the current generation.
//! No I/O; the caller reads and writes the object.

use super::filters::{self, ServiceFilters};
use crate::rollout::Routes;
use crate::spec::model::{GatewayRef, HttpMatch, SameSite, SessionAffinity, StringMatch};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The Gateway API group.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// Everything the route is rendered from.
#[derive(Clone, Debug)]
pub struct RouteInput<'a> {
    /// `gateway.networking.k8s.io/v1` or `/v1beta1`.
    pub api_version: &'a str,
    /// The route's name: the apex Service's.
    pub name: &'a str,
    /// Its namespace (the canary's).
    pub namespace: &'a str,
    /// `<apex>-primary`.
    pub primary: &'a str,
    /// `<apex>-canary`.
    pub canary: &'a str,
    /// `service.port`.
    pub port: u16,
    /// `service.gatewayRefs`.
    pub parents: &'a [GatewayRef],
    /// `service.hosts`.
    pub hosts: &'a [String],
    /// `service.match` (default: path prefix `/`).
    pub matches: &'a [HttpMatch],
    /// `analysis.match`: A/B conditions.
    pub ab: &'a [HttpMatch],
    /// `service.timeout`.
    pub timeout: Option<Duration>,
    /// `service.backendTimeout`.
    pub backend_timeout: Option<Duration>,
    /// `analysis.sessionAffinity`.
    pub affinity: Option<&'a SessionAffinity>,
    /// `analysis.mirrorWeight`: percent of requests mirrored while mirroring.
    pub mirror_percent: u32,
    /// `analysis.interval`: the primary cookie's lifetime.
    pub interval: Duration,
    /// The service's filters, on every rule.
    pub filters: ServiceFilters<'a>,
}

/// A Gateway API duration (`1h2m3s`, `500ms`).
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `(type, value)` of an Istio-style string match in Gateway API terms: exact stays exact,
/// everything else becomes a regular expression.
fn string_match(m: &StringMatch) -> Option<(&'static str, String)> {
    if let Some(v) = &m.exact {
        return Some(("Exact", v.clone()));
    }
    if let Some(v) = &m.regex {
        return Some(("RegularExpression", v.clone()));
    }
    if let Some(v) = &m.prefix {
        return Some(("RegularExpression", format!("^{}.*", escape(v))));
    }
    m.suffix
        .as_ref()
        .map(|v| ("RegularExpression", format!(".*{}$", escape(v))))
}

fn named_matches(map: &std::collections::BTreeMap<String, StringMatch>) -> Vec<Value> {
    map.iter()
        .filter_map(|(name, m)| {
            let (kind, value) = string_match(m)?;
            Some(json!({"type": kind, "name": name, "value": value}))
        })
        .collect()
}

/// One Istio-style match as an `HTTPRouteMatch`.
fn route_match(m: &HttpMatch) -> Value {
    let mut out = Map::new();
    let path = match &m.uri {
        Some(StringMatch { exact: Some(v), .. }) => json!({"type": "Exact", "value": v}),
        Some(StringMatch {
            prefix: Some(v), ..
        }) => json!({"type": "PathPrefix", "value": v}),
        Some(StringMatch { regex: Some(v), .. }) => {
            json!({"type": "RegularExpression", "value": v})
        }
        Some(StringMatch {
            suffix: Some(v), ..
        }) => json!({"type": "RegularExpression", "value": format!(".*{}$", escape(v))}),
        _ => json!({"type": "PathPrefix", "value": "/"}),
    };
    out.insert("path".into(), path);
    if let Some(h) = m
        .headers
        .as_ref()
        .map(named_matches)
        .filter(|h| !h.is_empty())
    {
        out.insert("headers".into(), Value::Array(h));
    }
    if let Some(q) = m
        .query_params
        .as_ref()
        .map(named_matches)
        .filter(|q| !q.is_empty())
    {
        out.insert("queryParams".into(), Value::Array(q));
    }
    if let Some(method) = m.method.as_ref().and_then(|s| s.exact.as_ref()) {
        out.insert("method".into(), json!(method.to_uppercase()));
    }
    Value::Object(out)
}

/// The service's matches, or path prefix `/`.
fn base_matches(input: &RouteInput) -> Vec<Value> {
    if input.matches.is_empty() {
        vec![json!({"path": {"type": "PathPrefix", "value": "/"}})]
    } else {
        input.matches.iter().map(route_match).collect()
    }
}

/// Each service match with each A/B condition's headers and query parameters in place of its own.
fn ab_matches(input: &RouteInput) -> Vec<Value> {
    let mut out = Vec::new();
    for base in base_matches(input) {
        for a in input.ab {
            let cond = route_match(a);
            let mut m = base.clone();
            for key in ["headers", "queryParams"] {
                if let Some(v) = cond.get(key) {
                    m[key] = v.clone();
                }
            }
            out.push(m);
        }
    }
    out
}

fn backend(service: &str, port: u16, weight: u32) -> Value {
    json!({"group": "", "kind": "Service", "name": service, "port": port, "weight": weight})
}

fn parent(r: &GatewayRef) -> Value {
    // The CRD's defaults spelled out, so a route read back compares equal to its render.
    let mut p = Map::new();
    p.insert("group".into(), json!(r.group.as_deref().unwrap_or(GROUP)));
    p.insert("kind".into(), json!(r.kind.as_deref().unwrap_or("Gateway")));
    p.insert("name".into(), json!(r.name));
    if let Some(n) = &r.namespace {
        p.insert("namespace".into(), json!(n));
    }
    if let Some(s) = &r.section_name {
        p.insert("sectionName".into(), json!(s));
    }
    if let Some(port) = r.port {
        p.insert("port".into(), json!(port));
    }
    Value::Object(p)
}

/// The `Set-Cookie` value that pins a client to `cookie` (`name=value`) for `max_age` seconds.
pub fn set_cookie(cookie: &str, a: &SessionAffinity, max_age: u64) -> String {
    let mut v = format!("{cookie}; Max-Age={max_age}");
    if let Some(d) = &a.domain {
        v.push_str(&format!("; Domain={d}"));
    }
    if a.http_only {
        v.push_str("; HttpOnly");
    }
    if a.partitioned {
        v.push_str("; Partitioned");
    }
    if let Some(p) = &a.path {
        v.push_str(&format!("; Path={p}"));
    }
    if let Some(s) = &a.same_site {
        let s = match s {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        };
        v.push_str(&format!("; SameSite={s}"));
    }
    if a.secure {
        v.push_str("; Secure");
    }
    v
}

/// The `Cookie` header pattern of a `name=value` cookie, as Flagger writes it.
fn cookie_regex(cookie: &str) -> String {
    let (name, value) = cookie.split_once('=').unwrap_or((cookie, ""));
    format!(".*{}.*{}.*", escape(name), escape(value))
}

/// The sticky cookie (`<cookieName>=<value>`) for a revision: a new revision gets a new cookie,
/// so clients pinned to the last canary are not pinned to this one.
pub fn cookie_for(a: &SessionAffinity, revision: &str) -> String {
    let value: String = revision
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{}={value}", a.cookie_name)
}

/// A response-header filter that adds `Set-Cookie: value`.
fn set_cookie_filter(value: String) -> Value {
    json!({"type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": value}]}})
}

/// One rule: its matches, the service's filters (plus `extra`), backends and timeouts.
fn rule(input: &RouteInput, matches: Vec<Value>, backends: Vec<Value>, extra: Vec<Value>) -> Value {
    let mut r = Map::new();
    r.insert("matches".into(), Value::Array(matches));
    let mut filters = filters::render(&input.filters, input.api_version == super::V1);
    filters.extend(extra);
    if !filters.is_empty() {
        r.insert("filters".into(), Value::Array(filters));
    }
    r.insert("backendRefs".into(), Value::Array(backends));
    let mut timeouts = Map::new();
    if let Some(t) = input.timeout {
        timeouts.insert("request".into(), json!(duration(t)));
    }
    if let Some(t) = input.backend_timeout {
        timeouts.insert("backendRequest".into(), json!(duration(t)));
    }
    if !timeouts.is_empty() {
        r.insert("timeouts".into(), Value::Object(timeouts));
    }
    Value::Object(r)
}

/// The service matches, each also requiring the `Cookie` header to carry `cookie`.
fn pinned(input: &RouteInput, cookie: &str) -> Vec<Value> {
    base_matches(input)
        .into_iter()
        .map(|mut m| {
            let mut headers = m["headers"].as_array().cloned().unwrap_or_default();
            headers.push(json!({"type": "RegularExpression", "name": "Cookie", "value": cookie_regex(cookie)}));
            m["headers"] = Value::Array(headers);
            m
        })
        .collect()
}

/// The route's spec for `split`. A/B: the matching rule, then the primary-only fallback.
/// Otherwise the weighted rule (with a `RequestMirror` toward the canary while mirroring),
/// preceded, with session affinity, by the sticky rules of `cookie` (see [`sticky`]). Every
/// rule carries the service's filters and timeouts.
pub fn spec(input: &RouteInput, split: Routes, cookie: Option<&str>) -> Value {
    let (p, c, port) = (input.primary, input.canary, input.port);
    let mut rules = Vec::new();
    if !input.ab.is_empty() {
        let both = vec![
            backend(p, port, split.primary),
            backend(c, port, split.canary),
        ];
        rules.push(rule(input, ab_matches(input), both, vec![]));
        rules.push(rule(
            input,
            base_matches(input),
            vec![backend(p, port, 100)],
            vec![],
        ));
    } else {
        let mut backends = [
            backend(p, port, split.primary),
            backend(c, port, split.canary),
        ];
        if let (Some(a), Some(cookie)) = (input.affinity, cookie) {
            rules.extend(sticky(input, a, cookie, split, &mut backends));
        }
        let mut extra = Vec::new();
        if split.mirrored {
            let mut mirror = filters::mirror(&crate::spec::model::BackendRef {
                group: None,
                kind: None,
                name: c.to_string(),
                namespace: None,
                port: Some(i64::from(port)),
            });
            if input.mirror_percent < 100 {
                mirror["requestMirror"]["percent"] = json!(input.mirror_percent);
            }
            extra.push(mirror);
        }
        rules.push(rule(input, base_matches(input), backends.to_vec(), extra));
    }
    let mut out = Map::new();
    out.insert(
        "parentRefs".into(),
        Value::Array(input.parents.iter().map(parent).collect()),
    );
    if !input.hosts.is_empty() {
        out.insert("hostnames".into(), json!(input.hosts));
    }
    out.insert("rules".into(), Value::Array(rules));
    Value::Object(out)
}

/// Session affinity's rules before the weighted one, as Flagger's Gateway API router writes
/// them. While the canary has traffic: requests carrying `cookie` go to the canary (and, with a
/// primary cookie on `gatewayapi:v1`, requests carrying it to the primary), and the weighted
/// backends set the cookies (the canary's for `maxAge`, the primary's for one analysis
/// interval). Once it has none: requests still carrying `cookie` get it expired (`Max-Age=-1`).
fn sticky(
    input: &RouteInput,
    a: &SessionAffinity,
    cookie: &str,
    split: Routes,
    weighted: &mut [Value; 2],
) -> Vec<Value> {
    let (p, c, port) = (input.primary, input.canary, input.port);
    if split.canary == 0 {
        let expire = set_cookie_filter(format!("{cookie}; Max-Age=-1"));
        return vec![rule(
            input,
            pinned(input, cookie),
            weighted.to_vec(),
            vec![expire],
        )];
    }
    let mut rules = vec![rule(
        input,
        pinned(input, cookie),
        vec![backend(p, port, 0), backend(c, port, 100)],
        vec![],
    )];
    weighted[1]["filters"] = json!([set_cookie_filter(set_cookie(cookie, a, a.max_age.into()))]);
    let primary_cookie = a
        .primary_cookie_name
        .as_ref()
        .filter(|_| input.api_version == super::V1);
    if let Some(name) = primary_cookie {
        let value = cookie.split_once('=').map_or("", |(_, v)| v);
        let pc = format!("{name}={value}");
        rules.push(rule(
            input,
            pinned(input, &pc),
            vec![backend(p, port, 100), backend(c, port, 0)],
            vec![],
        ));
        let age = input.interval.as_secs();
        weighted[0]["filters"] = json!([set_cookie_filter(set_cookie(&pc, a, age))]);
    }
    rules
}

/// The weighted rule: the one whose backends set a cookie, else the last with exactly two
/// backendRefs (sticky rules come before it).
fn weighted_rule(spec: &Value) -> Option<&Value> {
    let rules = spec["rules"].as_array()?;
    let two = |r: &&Value| r["backendRefs"].as_array().is_some_and(|b| b.len() == 2);
    let sets_cookie = |r: &&Value| {
        r["backendRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| b["filters"].is_array())
    };
    rules
        .iter()
        .filter(two)
        .find(sets_cookie)
        .or_else(|| rules.iter().rfind(two))
}

/// The cookie in a `Set-Cookie` filter of `filters`, with whether it expires it.
fn cookie_set_by(filters: &Value) -> Option<(String, bool)> {
    filters
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["responseHeaderModifier"]["add"].as_array())
        .flatten()
        .find(|h| h["name"] == "Set-Cookie")
        .and_then(|h| h["value"].as_str())
        .map(|v| {
            let cookie = v.split(';').next().unwrap_or_default().to_string();
            (cookie, v.ends_with("; Max-Age=-1"))
        })
}

/// The sticky cookie a route holds: the one its canary backend sets while the canary has
/// traffic, else the one a rule expires.
pub fn cookie_of(spec: &Value, canary: &str) -> Option<String> {
    let from_backend = weighted_rule(spec)
        .and_then(|r| r["backendRefs"].as_array())
        .into_iter()
        .flatten()
        .find(|b| b["name"] == canary)
        .and_then(|b| cookie_set_by(&b["filters"]))
        .map(|(c, _)| c);
    from_backend.or_else(|| {
        spec["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| cookie_set_by(&r["filters"]))
            .find_map(|(c, expired)| expired.then_some(c))
    })
}

/// The split a route holds, from its weighted rule; `None` when there is no such rule.
pub fn split_of(spec: &Value, canary: &str) -> Option<Routes> {
    let weighted = weighted_rule(spec)?;
    let backends = weighted["backendRefs"].as_array()?;
    let weight = |mine: bool| -> u32 {
        backends
            .iter()
            .find(|b| (b["name"] == canary) == mine)
            .and_then(|b| b["weight"].as_u64())
            .map_or(0, |w| w.min(100) as u32)
    };
    let mirrored = weighted["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| {
            f["type"] == "RequestMirror" && f["requestMirror"]["backendRef"]["name"] == canary
        });
    Some(Routes {
        primary: weight(false),
        canary: weight(true),
        mirrored,
    })
}

/// Whether every parent accepted the route's current generation, else what a parent says (or
/// that it has not said anything yet), naming the Gateway.
pub fn acceptance(route: &Value) -> Result<(), String> {
    let generation = route["metadata"]["generation"].as_i64().unwrap_or(0);
    let own_ns = route["metadata"]["namespace"].as_str().unwrap_or_default();
    let statuses = route["status"]["parents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in route["spec"]["parentRefs"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        let ns = p["namespace"].as_str().unwrap_or(own_ns);
        let kind = p["kind"].as_str().unwrap_or("Gateway").to_lowercase();
        let who = format!("{kind} {ns}/{name}");
        let status = statuses.iter().find(|s| {
            let r = &s["parentRef"];
            r["name"] == name
                && r["namespace"].as_str().unwrap_or(own_ns) == ns
                && r["sectionName"] == p["sectionName"]
        });
        let Some(status) = status else {
            return Err(format!(
                "{who} has not reported on the route (no status.parents entry: does the Gateway exist, and does a Gateway controller run?)"
            ));
        };
        let accepted = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Accepted");
        let Some(c) = accepted else {
            return Err(format!("{who} reports no Accepted condition"));
        };
        if c["status"] != "True" {
            return Err(format!(
                "{who}: Accepted={} ({}: {})",
                c["status"].as_str().unwrap_or("Unknown"),
                c["reason"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            ));
        }
        let seen = c["observedGeneration"].as_i64().unwrap_or(0);
        if seen < generation {
            return Err(format!(
                "{who} has not accepted generation {generation} yet (Accepted=True at generation {seen})"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(parents: &'a [GatewayRef], ab: &'a [HttpMatch]) -> RouteInput<'a> {
        RouteInput {
            api_version: "gateway.networking.k8s.io/v1",
            name: "web",
            namespace: "prod",
            primary: "web-primary",
            canary: "web-canary",
            port: 80,
            parents,
            hosts: &[],
            matches: &[],
            ab,
            timeout: None,
            backend_timeout: None,
            affinity: None,
            mirror_percent: 100,
            interval: Duration::from_secs(60),
            filters: ServiceFilters::default(),
        }
    }

    fn gw() -> Vec<GatewayRef> {
        vec![GatewayRef {
            name: "public".into(),
            namespace: Some("edge".into()),
            group: None,
            kind: None,
            section_name: None,
            port: None,
        }]
    }

    #[test]
    fn durations_use_the_gateway_api_format() {
        assert_eq!(duration(Duration::from_secs(30)), "30s");
        assert_eq!(duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration(Duration::ZERO), "0s");
    }

    #[test]
    fn a_split_reads_back_as_written() {
        let parents = gw();
        let i = input(&parents, &[]);
        for (p, c, m) in [
            (100, 0, false),
            (70, 30, false),
            (100, 0, true),
            (0, 100, false),
        ] {
            let split = Routes {
                primary: p,
                canary: c,
                mirrored: m,
            };
            let spec = spec(&i, split, None);
            assert_eq!(split_of(&spec, "web-canary"), Some(split));
            assert_eq!(cookie_of(&spec, "web-canary"), None);
        }
    }

    #[test]
    fn sticky_rules_pin_both_cookies_while_the_canary_shares_traffic_then_expire_the_canary_cookie()
    {
        let parents = gw();
        let affinity = SessionAffinity {
            cookie_name: "sticky".into(),
            primary_cookie_name: Some("stay".into()),
            max_age: 300,
            domain: None,
            path: Some("/".into()),
            same_site: Some(SameSite::Lax),
            secure: true,
            http_only: true,
            partitioned: false,
        };
        let mut i = input(&parents, &[]);
        i.affinity = Some(&affinity);
        let cookie = cookie_for(&affinity, "5f6c-77a9d2e0b1c4x");
        assert_eq!(cookie, "sticky=5f6c77a9d2e0");
        let split = Routes {
            primary: 80,
            canary: 20,
            mirrored: false,
        };
        let s = spec(&i, split, Some(&cookie));
        let rules = s["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 3, "{s:#}");
        let weights = |r: &Value| -> Vec<u64> {
            r["backendRefs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["weight"].as_u64().unwrap())
                .collect()
        };
        // Canary cookie → all to the canary; primary cookie → all to the primary.
        assert_eq!(weights(&rules[0]), [0, 100]);
        assert_eq!(
            rules[0]["matches"][0]["headers"][0]["value"],
            ".*sticky.*5f6c77a9d2e0.*"
        );
        assert_eq!(weights(&rules[1]), [100, 0]);
        assert_eq!(
            rules[1]["matches"][0]["headers"][0]["value"],
            ".*stay.*5f6c77a9d2e0.*"
        );
        assert_eq!(split_of(&s, "web-canary"), Some(split));
        assert_eq!(cookie_of(&s, "web-canary"), Some(cookie.clone()));
        let set = |b: usize| {
            rules[2]["backendRefs"][b]["filters"][0]["responseHeaderModifier"]["add"][0]["value"]
                .clone()
        };
        assert_eq!(
            set(1),
            "sticky=5f6c77a9d2e0; Max-Age=300; HttpOnly; Path=/; SameSite=Lax; Secure"
        );
        // The primary cookie lasts one analysis interval.
        assert_eq!(
            set(0),
            "stay=5f6c77a9d2e0; Max-Age=60; HttpOnly; Path=/; SameSite=Lax; Secure"
        );

        let done = Routes {
            primary: 100,
            canary: 0,
            mirrored: false,
        };
        let after = spec(&i, done, Some(&cookie));
        let rules = after["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{after:#}");
        assert_eq!(weights(&rules[0]), [100, 0]);
        assert_eq!(
            rules[0]["filters"][0]["responseHeaderModifier"]["add"][0]["value"],
            "sticky=5f6c77a9d2e0; Max-Age=-1"
        );
        assert_eq!(split_of(&after, "web-canary"), Some(done));
        assert_eq!(cookie_of(&after, "web-canary"), Some(cookie.clone()));
        // gatewayapi:v1beta1 has no primary cookie.
        i.api_version = super::super::V1BETA1;
        assert_eq!(
            spec(&i, split, Some(&cookie))["rules"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn acceptance_names_the_gateway_and_its_condition() {
        let mut route = json!({
            "metadata": {"name": "web", "namespace": "prod", "generation": 3},
            "spec": {"parentRefs": [{"name": "public", "namespace": "edge"}]},
        });
        let err = acceptance(&route).unwrap_err();
        assert!(
            err.starts_with("gateway edge/public has not reported"),
            "{err}"
        );
        route["status"] = json!({"parents": [{"parentRef": {"name": "public", "namespace": "edge"},
            "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
                            "message": "no listener allows prod", "observedGeneration": 3}]}]});
        assert_eq!(
            acceptance(&route).unwrap_err(),
            "gateway edge/public: Accepted=False (NotAllowedByListeners: no listener allows prod)"
        );
        route["status"]["parents"][0]["conditions"][0]["status"] = json!("True");
        route["status"]["parents"][0]["conditions"][0]["observedGeneration"] = json!(2);
        assert!(acceptance(&route).unwrap_err().contains("generation 3"));
        route["status"]["parents"][0]["conditions"][0]["observedGeneration"] = json!(3);
        assert_eq!(acceptance(&route), Ok(()));
    }
}
