//! The Istio router (reference §6) for `provider: istio`: the DestinationRules `<apex>-primary`
//! and `<apex>-canary` and the VirtualService named after the apex Service, created with all
//! traffic on the primary; its destination weights are the rollout's. The renders are pure
//! (`render.rs`); this file reads and writes the objects. Must not touch workloads or Services.

pub mod render;

use super::{TrafficRouter, owned};
use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::rollout::{Plan, Routes, Strategy};
use crate::router::gateway_api::render::cookie_for;
use crate::spec::model::Metadata;
use kube::api::{ApiResource, DynamicObject};
use render::MeshInput;
use std::time::Duration;

/// What the Istio objects of a canary with a service are rendered from.
pub fn input(plan: &Plan) -> Option<MeshInput<'_>> {
    let service = plan.service.as_ref()?;
    let ab = match &plan.strategy {
        Strategy::AbTesting { matches, .. } => matches.as_slice(),
        _ => &[],
    };
    Some(MeshInput {
        name: &plan.names.apex,
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
        port: service.port,
        port_discovery: service.port_discovery,
        tcp: service
            .app_protocol
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("tcp")),
        gateways: &service.gateways,
        hosts: &service.hosts,
        delegation: service.delegation,
        matches: &service.matches,
        ab,
        timeout: service.timeout,
        retries: service.retries.as_ref(),
        headers: service.headers.as_ref(),
        cors: service.cors.as_ref(),
        rewrite: service.rewrite.as_ref(),
        traffic_policy: service.traffic_policy.as_ref(),
        affinity: plan.session_affinity.as_ref(),
        interval: plan.interval,
        mirror_percent: plan.mirror_weight,
    })
}

/// The DestinationRules carry no user metadata (Flagger gives them none).
static NO_METADATA: Metadata = Metadata {
    labels: std::collections::BTreeMap::new(),
    annotations: std::collections::BTreeMap::new(),
};

fn virtual_service() -> ApiResource {
    owned::resource(render::API_VERSION, "VirtualService")
}

fn destination_rule() -> ApiResource {
    owned::resource(render::API_VERSION, "DestinationRule")
}

/// The Istio router of one canary: the VirtualService and DestinationRules it owns.
pub struct Istio<'a> {
    /// What the objects are rendered from.
    pub input: MeshInput<'a>,
    /// The canary's namespace.
    pub namespace: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The apex metadata (`spec.service.apex`) the VirtualService carries too.
    pub extra: &'a Metadata,
}

impl Istio<'_> {
    /// The VirtualService as it should be: the split (and sticky cookie) it holds now, so
    /// reconciling never moves traffic, or all traffic on the primary when it is new.
    fn desired_vs(&self, current: Option<&DynamicObject>) -> DynamicObject {
        let spec = current.map(|c| &c.data["spec"]);
        let split = spec
            .and_then(|s| render::split_of(s, &self.input))
            .unwrap_or(super::ALL_PRIMARY);
        let cookie = spec.and_then(|s| render::cookie_of(s, self.input.canary));
        let spec = render::spec(&self.input, split, cookie.as_deref());
        let (name, ns) = (self.input.name, self.namespace);
        owned::render(
            &virtual_service(),
            name,
            ns,
            current,
            self.owner,
            self.extra,
            spec,
        )
    }

    fn desired_rule<'s>(&'s self, host: &'s str) -> Desired<'s> {
        Desired::dynamic(destination_rule(), host, "init", move |current| {
            let spec = render::destination_rule(&self.input, host);
            let (res, ns) = (destination_rule(), self.namespace);
            Some(owned::render(
                &res,
                host,
                ns,
                current,
                self.owner,
                &NO_METADATA,
                spec,
            ))
        })
    }
}

#[async_trait::async_trait]
impl TrafficRouter for Istio<'_> {
    /// Refuses a VirtualService or DestinationRule of those names that canary-gate does not
    /// own (it is never overwritten).
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let (input, ns, owner) = (&self.input, self.namespace, self.owner);
        owned::refuse_foreign(read, &virtual_service(), input.name, ns, owner).await?;
        for host in [input.primary, input.canary] {
            owned::refuse_foreign(read, &destination_rule(), host, ns, owner).await?;
        }
        let vs = Desired::dynamic(
            virtual_service(),
            input.name,
            "init; the rollout sets its destination weights",
            move |current| Some(self.desired_vs(current)),
        );
        Ok(vec![
            InitStep::Apply(self.desired_rule(input.canary)),
            InitStep::Apply(self.desired_rule(input.primary)),
            InitStep::Apply(vs),
        ])
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let api = owned::api(client, self.namespace, &virtual_service());
        let what = format!("virtualservice/{}", self.input.name);
        let vs = owned::read_live(&api, self.input.name, &what).await?;
        render::split_of(&vs.data["spec"], &self.input).ok_or_else(|| {
            Error::Infra(format!(
                "{what} has no route with the {} and {} destinations; run init again",
                self.input.primary, self.input.canary
            ))
        })
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        revision: Option<&str>,
    ) -> Result<(), Error> {
        let input = &self.input;
        let cookie = input
            .affinity
            .zip(revision)
            .filter(|_| split.canary > 0)
            .map(|(a, revision)| cookie_for(a, revision));
        let api = owned::api(client, self.namespace, &virtual_service());
        let object = format!("virtualservice/{}", input.name);
        owned::set_spec(&api, input.name, &object, split, |cur| {
            let held = || render::cookie_of(cur, input.canary);
            let cookie = cookie.clone().or_else(held);
            render::spec(input, split, cookie.as_deref())
        })
        .await
        .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
