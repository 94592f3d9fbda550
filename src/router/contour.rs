//! The Contour router (provider `contour`, Flagger v1.44's `pkg/router/contour.go`): the
//! `projectcontour.io/v1` HTTPProxy named after the apex Service, meant to be included from the
//! user's root HTTPProxy. One route on `service.match[0].uri.prefix` (else `/`) splits between
//! `<apex>-primary` and `<apex>-canary` by `weight`; with A/B conditions a first route carries the
//! header conditions and the rollout's split, and a second route keeps the rest on the primary.
//! `service.timeout` and `service.retries` become the routes' timeout and retry policies; each
//! service sets `l5d-dst-override` as Flagger does. The render is pure; `owned::OneObject` reads
//! and writes the object. Must not touch workloads or Services.

use super::owned;
use crate::rollout::{Plan, Routes, Strategy};
use crate::router::gateway_api::render::duration;
use crate::spec::model::{HttpMatch, StringMatch};
use kube::api::ApiResource;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The HTTPProxy `apiVersion`.
pub const API_VERSION: &str = "projectcontour.io/v1";

/// What the HTTPProxy is rendered from.
#[derive(Clone, Debug)]
pub struct ProxyInput<'a> {
    /// Its name: the apex Service's.
    pub name: &'a str,
    /// The canary's namespace (the `l5d-dst-override` host).
    pub namespace: &'a str,
    /// `<apex>-primary`.
    pub primary: &'a str,
    /// `<apex>-canary`.
    pub canary: &'a str,
    /// `service.port`.
    pub port: u16,
    /// The path prefix every route matches.
    pub prefix: String,
    /// `analysis.match`: the A/B header conditions.
    pub ab: &'a [HttpMatch],
    /// `service.timeout`.
    pub timeout: Option<Duration>,
    /// `service.retries`, as written (Istio's `attempts`, `perTryTimeout`, `retryOn`).
    pub retries: Option<&'a Value>,
}

/// What the HTTPProxy of a canary with a service is rendered from.
pub fn input<'a>(plan: &'a Plan, namespace: &'a str) -> Option<ProxyInput<'a>> {
    let service = plan.service.as_ref()?;
    let prefix = service
        .matches
        .first()
        .and_then(|m| m.uri.as_ref())
        .and_then(|u| u.prefix.clone())
        .unwrap_or_else(|| "/".into());
    let ab = match &plan.strategy {
        Strategy::AbTesting { matches, .. } => matches.as_slice(),
        Strategy::Canary { .. } | Strategy::BlueGreen { .. } => &[],
    };
    Some(ProxyInput {
        name: &plan.names.apex,
        namespace,
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
        port: service.port,
        prefix,
        ab,
        timeout: service.timeout,
        retries: service.retries.as_ref(),
    })
}

/// One weighted service of a route; a zero weight is left out, as Flagger's `omitempty` writes it.
fn service(input: &ProxyInput, name: &str, weight: u32) -> Value {
    let host = format!(
        "{name}.{}.svc.cluster.local:{}",
        input.namespace, input.port
    );
    let mut s = json!({
        "name": name,
        "port": input.port,
        "requestHeadersPolicy": {"set": [{"name": "l5d-dst-override", "value": host}]},
    });
    if weight > 0 {
        s["weight"] = json!(weight);
    }
    s
}

/// Contour's retry policy from Istio's retry fields.
fn retry_policy(retries: &Value) -> Value {
    let mut p = Map::new();
    if let Some(n) = retries["attempts"].as_i64() {
        p.insert("count".into(), json!(n));
    }
    if let Some(t) = retries["perTryTimeout"].as_str() {
        p.insert("perTryTimeout".into(), json!(t));
    }
    if let Some(on) = retries["retryOn"].as_str().filter(|s| !s.is_empty()) {
        let list: Vec<&str> = on.split(',').map(str::trim).collect();
        p.insert("retryOn".into(), json!(list));
    }
    Value::Object(p)
}

/// A header condition: `exact` stays exact, `prefix` and `suffix` become `contains` (Flagger's
/// mapping), `regex` is Contour's `regex`.
fn header_condition(name: &str, m: &StringMatch) -> Value {
    let mut h = json!({"name": name});
    if let Some(v) = &m.exact {
        h["exact"] = json!(v);
    } else if let Some(v) = m.prefix.as_ref().or(m.suffix.as_ref()) {
        h["contains"] = json!(v);
    } else if let Some(v) = &m.regex {
        h["regex"] = json!(v);
    }
    h
}

/// The A/B route's conditions: the prefix with the first header, then one condition per further
/// header (Contour allows one prefix per route).
fn ab_conditions(input: &ProxyInput) -> Vec<Value> {
    let headers = input
        .ab
        .iter()
        .filter_map(|m| m.headers.as_ref())
        .flat_map(|h| h.iter());
    let mut out: Vec<Value> = headers
        .map(|(name, m)| json!({"header": header_condition(name, m)}))
        .collect();
    match out.first_mut() {
        Some(first) => first["prefix"] = json!(input.prefix),
        None => out.push(json!({"prefix": input.prefix})),
    }
    out
}

fn route(input: &ProxyInput, conditions: Vec<Value>, split: Routes) -> Value {
    let mut r = json!({
        "conditions": conditions,
        "services": [
            service(input, input.primary, split.primary),
            service(input, input.canary, split.canary),
        ],
    });
    if let Some(t) = input.timeout {
        r["timeoutPolicy"] = json!({"response": duration(t), "idle": "5m"});
    }
    if let Some(retries) = input.retries {
        r["retryPolicy"] = retry_policy(retries);
    }
    r
}

/// The HTTPProxy spec for `split`: with A/B conditions the split applies to the matching
/// requests only.
pub fn spec(input: &ProxyInput, split: Routes) -> Value {
    let prefix_only = vec![json!({"prefix": input.prefix})];
    if input.ab.iter().all(|m| m.headers.is_none()) {
        return json!({"routes": [route(input, prefix_only, split)]});
    }
    json!({"routes": [
        route(input, ab_conditions(input), split),
        route(input, prefix_only, super::ALL_PRIMARY),
    ]})
}

/// The split an HTTPProxy holds, from its first route (Flagger's `GetRoutes`: the primary's
/// weight, the canary the rest); `None` when that route does not name the primary.
pub fn split_of(spec: &Value, input: &ProxyInput) -> Option<Routes> {
    let services = spec["routes"][0]["services"].as_array()?;
    let primary = services.iter().find(|s| s["name"] == input.primary)?;
    let weight = primary["weight"].as_u64().unwrap_or(0).min(100) as u32;
    Some(Routes::primary_takes(weight))
}

impl owned::SplitObject for ProxyInput<'_> {
    fn resource(&self) -> ApiResource {
        owned::resource(API_VERSION, "HTTPProxy")
    }

    fn name(&self) -> &str {
        self.name
    }

    fn namespace(&self) -> &str {
        self.namespace
    }

    fn spec(&self, split: Routes) -> Value {
        spec(self, split)
    }

    fn split_of(&self, spec: &Value) -> Option<Routes> {
        split_of(spec, self)
    }

    fn no_split(&self) -> String {
        format!("has no route to {}", self.primary)
    }
}
