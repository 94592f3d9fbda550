//! The Traefik router (provider `traefik`, Flagger v1.44's `pkg/router/traefik.go`): the
//! `traefik.io/v1alpha1` TraefikService named after the apex Service, which the user's
//! IngressRoute references (`kind: TraefikService`). Its weighted round robin lists
//! `<apex>-primary` with the primary's weight and, only while the canary has weight,
//! `<apex>-canary` with its own. The render is pure; `owned::OneObject` reads and writes the
//! object. Must
//! not touch workloads or Services.

use super::owned;
use crate::rollout::{Plan, Routes};
use kube::api::ApiResource;
use serde_json::{Value, json};

/// The TraefikService `apiVersion`.
pub const API_VERSION: &str = "traefik.io/v1alpha1";

/// What the TraefikService is rendered from.
#[derive(Clone, Debug)]
pub struct WeightedInput<'a> {
    /// Its name: the apex Service's.
    pub name: &'a str,
    /// The canary's namespace.
    pub namespace: &'a str,
    /// `<apex>-primary`.
    pub primary: &'a str,
    /// `<apex>-canary`.
    pub canary: &'a str,
    /// `service.port`.
    pub port: u16,
}

/// What the TraefikService of a canary with a service is rendered from.
pub fn input<'a>(plan: &'a Plan, namespace: &'a str) -> Option<WeightedInput<'a>> {
    let service = plan.service.as_ref()?;
    Some(WeightedInput {
        name: &plan.names.apex,
        namespace,
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
        port: service.port,
    })
}

/// The TraefikService spec for `split`. The primary's weight is written even when it is 0:
/// Traefik reads a missing weight as 1, which would keep sending it requests.
pub fn spec(input: &WeightedInput, split: Routes) -> Value {
    let entry = |name: &str, weight: u32| json!({"name": name, "namespace": input.namespace, "port": input.port, "weight": weight});
    let mut services = vec![entry(input.primary, split.primary)];
    if split.canary > 0 {
        services.push(entry(input.canary, split.canary));
    }
    json!({"weighted": {"services": services}})
}

/// The split a TraefikService holds (Flagger's `GetRoutes`: the primary's weight, the canary the
/// rest); `None` when it does not list the primary.
pub fn split_of(spec: &Value, input: &WeightedInput) -> Option<Routes> {
    let services = spec["weighted"]["services"].as_array()?;
    let primary = services.iter().find(|s| s["name"] == input.primary)?;
    let weight = primary["weight"].as_u64().unwrap_or(0).min(100) as u32;
    Some(Routes::primary_takes(weight))
}

impl owned::SplitObject for WeightedInput<'_> {
    fn resource(&self) -> ApiResource {
        owned::resource(API_VERSION, "TraefikService")
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
        format!("does not list {}", self.primary)
    }
}
