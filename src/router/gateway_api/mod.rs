//! The Gateway API router (reference §6.1) for `gatewayapi:v1` and `gatewayapi:v1beta1`: the
//! HTTPRoute named after the apex Service, created with all traffic on the primary; its weights
//! are the rollout's; it is read back only once every parent accepted its current generation.
//! The renders are pure (`render.rs`); this file reads and writes the object. Must not touch
//! workloads or Services.

pub mod filters;
pub mod render;

use super::{TrafficRouter, owned};
use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::k8s::write::Outcome;
use crate::rollout::Routes;
use kube::api::{Api, ApiResource, DynamicObject};
use render::RouteInput;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `gatewayapi:v1`'s HTTPRoute `apiVersion`.
pub const V1: &str = "gateway.networking.k8s.io/v1";
/// `gatewayapi:v1beta1`'s HTTPRoute `apiVersion`.
pub const V1BETA1: &str = "gateway.networking.k8s.io/v1beta1";

/// What the route of a canary is rendered from, for a Gateway API provider with a service;
/// `api_version` is [`V1`] or [`V1BETA1`].
pub fn input<'a>(
    plan: &'a crate::rollout::Plan,
    namespace: &'a str,
    api_version: &'static str,
) -> Option<RouteInput<'a>> {
    let name = plan.names.route.as_deref()?;
    let service = plan.service.as_ref()?;
    let ab = match &plan.strategy {
        crate::rollout::Strategy::AbTesting { matches, .. } => matches.as_slice(),
        _ => &[],
    };
    Some(RouteInput {
        api_version,
        name,
        namespace,
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
        port: service.port,
        parents: &service.gateway_refs,
        hosts: &service.hosts,
        matches: &service.matches,
        ab,
        timeout: service.timeout,
        backend_timeout: service.backend_timeout,
        affinity: plan.session_affinity.as_ref(),
        mirror_percent: plan.mirror_weight,
        interval: plan.interval,
        filters: filters::ServiceFilters {
            headers: service.headers.as_ref(),
            rewrite: service.rewrite.as_ref(),
            cors: service.cors.as_ref(),
            mirror: &service.mirror,
        },
    })
}

fn api(client: &kube::Client, namespace: &str, api_version: &str) -> Api<DynamicObject> {
    owned::api(client, namespace, &resource(api_version))
}

fn as_value(route: &DynamicObject) -> Value {
    serde_json::to_value(route).unwrap_or(Value::Null)
}

/// The route as it should be: `current`'s metadata (annotations other controllers set are kept)
/// with ours added, and `spec` rendered for the split it holds now (so reconciling never moves
/// traffic), or for all traffic on the primary when it is new.
pub fn desired(
    input: &RouteInput,
    current: Option<&DynamicObject>,
    owner: &str,
    extra: &crate::spec::model::Metadata,
) -> DynamicObject {
    let spec = current.map(|c| &c.data["spec"]);
    let split = spec
        .and_then(|s| render::split_of(s, input.canary))
        .unwrap_or(Routes {
            primary: 100,
            canary: 0,
            mirrored: false,
        });
    let cookie = spec.and_then(|s| render::cookie_of(s, input.canary));
    let spec = render::spec(input, split, cookie.as_deref());
    let res = resource(input.api_version);
    owned::render(
        &res,
        input.name,
        input.namespace,
        current,
        owner,
        extra,
        spec,
    )
}

/// The Gateway API router of one canary: the HTTPRoute it renders and owns.
pub struct GatewayApi<'a> {
    /// What the route is rendered from.
    pub input: RouteInput<'a>,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The apex metadata (`spec.service.apex`) the route carries too.
    pub extra: &'a crate::spec::model::Metadata,
}

impl GatewayApi<'_> {
    fn resource(&self) -> ApiResource {
        resource(self.input.api_version)
    }
}

fn resource(api_version: &str) -> ApiResource {
    owned::resource(api_version, "HTTPRoute")
}

#[async_trait::async_trait]
impl TrafficRouter for GatewayApi<'_> {
    /// Refuses a route of that name that canary-gate does not own (it is never overwritten).
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let (input, owner) = (&self.input, self.owner);
        owned::refuse_foreign(read, &self.resource(), input.name, input.namespace, owner).await?;
        let route = Desired::dynamic(
            self.resource(),
            input.name,
            "init; the rollout sets its backend weights",
            move |current| Some(desired(input, current, owner, self.extra)),
        );
        Ok(vec![InitStep::Apply(route), InitStep::WaitRouteAccepted])
    }

    async fn routes(&self, client: &kube::Client, wait: Duration) -> Result<Routes, Error> {
        read_routes(client, &self.input, wait).await
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        revision: Option<&str>,
    ) -> Result<(), Error> {
        let cookie = self
            .input
            .affinity
            .zip(revision)
            .filter(|_| split.canary > 0)
            .map(|(a, revision)| render::cookie_for(a, revision));
        set_routes(client, &self.input, split, cookie)
            .await
            .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        false
    }
}

/// Reads the split, waiting up to `wait` for every parent to accept the route's current
/// generation; past that, an error naming the Gateway and its condition.
async fn read_routes(
    client: &kube::Client,
    input: &RouteInput<'_>,
    wait: Duration,
) -> Result<Routes, Error> {
    let api = api(client, input.namespace, input.api_version);
    let what = format!("httproute/{}", input.name);
    let start = Instant::now();
    let mut said = false;
    loop {
        let route = owned::read_live(&api, input.name, &what).await?;
        let value = as_value(&route);
        match render::acceptance(&value) {
            Ok(()) => {
                return render::split_of(&value["spec"], input.canary).ok_or_else(|| {
                    Error::Infra(format!(
                        "{what} has no rule with the primary and canary backends; run init again"
                    ))
                });
            }
            Err(why) if start.elapsed() >= wait => {
                return Err(Error::Infra(format!(
                    "{what} in namespace {} was not accepted within {}s: {why}; traffic was not shifted",
                    input.namespace,
                    wait.as_secs()
                )));
            }
            Err(why) => {
                if !said {
                    tracing::info!(
                        "{}/{}: waiting for the route to be accepted: {why}",
                        input.namespace,
                        input.name
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Writes a split, with the sticky `cookie` while the canary takes part of the traffic; once it
/// takes none, the cookie the route held is expired.
async fn set_routes(
    client: &kube::Client,
    input: &RouteInput<'_>,
    split: Routes,
    cookie: Option<String>,
) -> Result<Outcome, Error> {
    let api = api(client, input.namespace, input.api_version);
    let object = format!("httproute/{}", input.name);
    let outcome = owned::set_spec(&api, input.name, &object, split, |cur| {
        let held = || render::cookie_of(cur, input.canary);
        let cookie = cookie.clone().or_else(held);
        render::spec(input, split, cookie.as_deref())
    })
    .await?;
    Ok(outcome)
}
