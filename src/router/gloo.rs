//! The Gloo Edge router (provider `gloo`, Flagger v1.44's `pkg/router/gloo.go`): two
//! `gloo.solo.io/v1` Upstreams, `<ns>-<apex>-primaryupstream-<port>` and
//! `<ns>-<apex>-canaryupstream-<port>`, on the `-primary` and `-canary` Services (with the
//! connection, TLS, circuit-breaker and load-balancing settings of `spec.upstreamRef`'s Upstream
//! copied in), and the `gateway.solo.io/v1` RouteTable named after the apex Service, which the
//! user's VirtualService delegates to. Its one route (with the A/B header and method matchers)
//! splits between the two Upstreams by `weight`. The renders are pure; `Gloo` reads and writes.
//! Must not touch workloads or Services.

use super::{TrafficRouter, owned};
use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::rollout::Routes;
use crate::spec::model::{HttpMatch, Metadata, StringMatch};
use kube::api::ApiResource;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The Upstream `apiVersion`.
pub const UPSTREAM_API: &str = "gloo.solo.io/v1";
/// The RouteTable `apiVersion`.
pub const ROUTE_TABLE_API: &str = "gateway.solo.io/v1";

/// The settings of `spec.upstreamRef`'s Upstream copied into both Upstreams (Flagger's list).
const COPIED: [&str; 9] = [
    "labels",
    "sslConfig",
    "circuitBreakers",
    "connectionConfig",
    "loadBalancerConfig",
    "useHttp2",
    "initialStreamWindowSize",
    "initialConnectionWindowSize",
    "httpProxyHostName",
];

fn upstream_resource() -> ApiResource {
    owned::resource(UPSTREAM_API, "Upstream")
}

fn table_resource() -> ApiResource {
    owned::resource(ROUTE_TABLE_API, "RouteTable")
}

/// The Gloo router of one canary.
pub struct Gloo<'a> {
    /// The canary's namespace.
    pub namespace: &'a str,
    /// The apex Service.
    pub apex: &'a str,
    /// `service.port`.
    pub port: u16,
    /// `analysis.match`: the A/B conditions.
    pub ab: &'a [HttpMatch],
    /// `spec.upstreamRef`: namespace (default the canary's) and name.
    pub upstream_ref: Option<(Option<&'a str>, &'a str)>,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The apex metadata (`spec.service.apex`), for the RouteTable.
    pub extra: &'a Metadata,
}

impl Gloo<'_> {
    /// The Upstream of `which` (`primary` or `canary`).
    pub fn upstream(&self, which: &str) -> String {
        format!(
            "{}-{}-{which}upstream-{}",
            self.namespace, self.apex, self.port
        )
    }

    /// An Upstream's spec: the Service it names, and the settings copied from `config`.
    pub fn upstream_spec(&self, service: &str, config: Option<&Value>) -> Value {
        let mut spec = Map::new();
        for field in COPIED {
            if let Some(v) = config.and_then(|c| c.get(field)).filter(|v| !v.is_null()) {
                spec.insert(field.into(), v.clone());
            }
        }
        let kube = json!({"serviceName": service, "serviceNamespace": self.namespace, "servicePort": self.port});
        spec.insert("kube".into(), kube);
        Value::Object(spec)
    }

    /// The RouteTable spec for `split`; a zero weight is left out, as Flagger's `omitempty`
    /// writes it.
    pub fn table_spec(&self, split: Routes) -> Value {
        let dest = |which: &str, weight: u32| {
            let mut d = json!({"destination": {"upstream": {"name": self.upstream(which), "namespace": self.namespace}}});
            if weight > 0 {
                d["weight"] = json!(weight);
            }
            d
        };
        let mut route = json!({
            "inheritablePathMatchers": true,
            "routeAction": {"multi": {"destinations": [
                dest("primary", split.primary),
                dest("canary", split.canary),
            ]}},
        });
        if let Some(m) = matchers(self.ab) {
            route["matchers"] = m;
        }
        json!({"routes": [route]})
    }

    /// The split a RouteTable holds (Flagger's `GetRoutes`: the primary Upstream's weight, the
    /// canary the rest).
    pub fn split_of(&self, spec: &Value) -> Option<Routes> {
        let primary = self.upstream("primary");
        let dests = spec["routes"][0]["routeAction"]["multi"]["destinations"].as_array()?;
        let d = dests
            .iter()
            .find(|d| d["destination"]["upstream"]["name"] == primary.as_str())?;
        let weight = d["weight"].as_u64().unwrap_or(0).min(100) as u32;
        Some(Routes::primary_takes(weight))
    }

    /// `spec.upstreamRef`'s Upstream's spec, which must exist.
    async fn config(&self, read: &dyn Read) -> Result<Option<Value>, Error> {
        let Some((ns, name)) = self.upstream_ref else {
            return Ok(None);
        };
        let ns = ns.unwrap_or(self.namespace);
        let found = read.get_in(&upstream_resource(), ns, name).await?;
        let found = found.ok_or_else(|| {
            Error::Invalid(format!(
                "upstream/{name} in namespace {ns} (spec.upstreamRef) does not exist"
            ))
        })?;
        Ok(Some(found.data["spec"].clone()))
    }
}

/// One header matcher: exact as `value`, a regular expression with `regex: true`, prefix and
/// suffix as the regular expressions they mean.
fn header(name: &str, m: &StringMatch) -> Value {
    let (value, regex) = match (&m.exact, &m.regex, &m.prefix, &m.suffix) {
        (Some(v), ..) => (v.clone(), false),
        (None, Some(r), ..) => (r.clone(), true),
        (None, None, Some(p), _) => (format!("{}.*", regex_escape(p)), true),
        (None, None, None, Some(s)) => (format!(".*{}", regex_escape(s)), true),
        (None, None, None, None) => (String::new(), false),
    };
    let mut h = json!({"name": name, "value": value});
    if regex {
        h["regex"] = json!(true);
    }
    h
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// The route's matchers: every header and exact method of `analysis.match` in one matcher.
fn matchers(ab: &[HttpMatch]) -> Option<Value> {
    let headers: Vec<Value> = ab
        .iter()
        .filter_map(|m| m.headers.as_ref())
        .flat_map(|h| h.iter().map(|(name, m)| header(name, m)))
        .collect();
    let methods: Vec<&str> = ab
        .iter()
        .filter_map(|m| m.method.as_ref()?.exact.as_deref())
        .collect();
    if headers.is_empty() && methods.is_empty() {
        return None;
    }
    let mut m = Map::new();
    if !headers.is_empty() {
        m.insert("headers".into(), json!(headers));
    }
    if !methods.is_empty() {
        m.insert("methods".into(), json!(methods));
    }
    Some(json!([m]))
}

#[async_trait::async_trait]
impl TrafficRouter for Gloo<'_> {
    /// Refuses objects of these names canary-gate does not own and a missing `upstreamRef`;
    /// keeps the split a previous init left.
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let config = self.config(read).await?;
        let (ns, owner) = (self.namespace, self.owner);
        let names = [self.upstream("primary"), self.upstream("canary")];
        for name in &names {
            owned::refuse_foreign(read, &upstream_resource(), name, ns, owner).await?;
        }
        owned::refuse_foreign(read, &table_resource(), self.apex, ns, owner).await?;
        let services = [
            crate::rollout::primary_name(self.apex),
            crate::rollout::canary_name(self.apex),
        ];
        let mut steps = Vec::new();
        for (name, service) in names.into_iter().zip(services) {
            let spec = self.upstream_spec(&service, config.as_ref());
            let step = Desired::dynamic(upstream_resource(), &name.clone(), "init", move |cur| {
                let res = upstream_resource();
                let none = &Metadata::default();
                Some(owned::render(
                    &res,
                    &name,
                    ns,
                    cur,
                    owner,
                    none,
                    spec.clone(),
                ))
            });
            steps.push(InitStep::Apply(step));
        }
        let table = Desired::dynamic(
            table_resource(),
            self.apex,
            "init; the rollout sets its destination weights",
            move |cur| {
                let held = cur.and_then(|c| self.split_of(&c.data["spec"]));
                let spec = self.table_spec(held.unwrap_or(super::ALL_PRIMARY));
                let res = table_resource();
                Some(owned::render(
                    &res, self.apex, ns, cur, owner, self.extra, spec,
                ))
            },
        );
        steps.push(InitStep::Apply(table));
        Ok(steps)
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let api = owned::api(client, self.namespace, &table_resource());
        let what = format!("routetable/{}", self.apex);
        let live = owned::read_live(&api, self.apex, &what).await?;
        self.split_of(&live.data["spec"]).ok_or_else(|| {
            let primary = self.upstream("primary");
            Error::Infra(format!(
                "{what} has no destination {primary}; run init again"
            ))
        })
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let api = owned::api(client, self.namespace, &table_resource());
        let object = format!("routetable/{}", self.apex);
        owned::set_spec(&api, self.apex, &object, split, |_| self.table_spec(split))
            .await
            .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
