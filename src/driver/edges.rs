//! The one place a canary's router and workload are chosen: [`choose`], with an exhaustive
//! `match` on the target kind and one on the provider and no default arm, so a new variant in
//! `spec/` does not compile until it is given an edge here (Flagger's router factory, without
//! its silent fallback).
//!
//! Adding a router or a target kind: one new file under `src/router/` or `src/workload/` that
//! implements [`TrafficRouter`] or [`Workload`], and one arm below.

use crate::driver::Cluster;
use crate::error::Error;
use crate::metrics::queries::Observer;
use crate::rollout::{Plan, Strategy};
use crate::router::TrafficRouter;
use crate::router::apisix::Apisix;
use crate::router::contour;
use crate::router::gateway_api::{self, GatewayApi};
use crate::router::gloo::Gloo;
use crate::router::istio::{self, Istio};
use crate::router::knative::Knative;
use crate::router::kubernetes::NoL7;
use crate::router::kuma::Kuma;
use crate::router::nginx::{IngressPair, Nginx};
use crate::router::owned::OneObject;
use crate::router::skipper::Skipper;
use crate::router::smi::{self, SplitVersion};
use crate::router::traefik;
use crate::spec::model::{Canary, Provider, TargetKind};
use crate::workload::Workload;
use crate::workload::daemonset::DaemonSetWorkload;
use crate::workload::deployment::DeploymentWorkload;
use crate::workload::knative::KnativeWorkload;
use crate::workload::service_target::ServiceWorkload;

/// A canary's edges: how its traffic moves and what its workload is.
pub struct Edges<'a> {
    /// The provider's router.
    pub router: Box<dyn TrafficRouter + 'a>,
    /// The target kind's workload.
    pub workload: Box<dyn Workload + 'a>,
    /// The built-in metric queries of the provider (`None`: it has none).
    pub observer: Option<Observer<'a>>,
}

/// What the edges of one canary are built from.
pub struct Scope<'a> {
    /// The validated spec.
    pub canary: &'a Canary,
    /// Its plan.
    pub plan: &'a Plan,
    /// Its namespace.
    pub namespace: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The cluster options.
    pub cluster: &'a Cluster,
}

/// A canary's namespace, owner id and plan, owned, for a [`Scope`] to borrow.
pub struct Placed {
    /// The namespace.
    pub namespace: String,
    /// `<namespace>/<name>`.
    pub owner: String,
    /// The plan.
    pub plan: Plan,
}

impl Placed {
    /// Canary `c` in `namespace`.
    pub fn new(namespace: String, c: &Canary) -> Placed {
        Placed {
            owner: crate::k8s::canary_id(&namespace, &c.name),
            plan: Plan::new(c).0,
            namespace,
        }
    }

    /// The scope of `c` placed here.
    pub fn scope<'a>(&'a self, c: &'a Canary, cluster: &'a Cluster) -> Scope<'a> {
        Scope {
            canary: c,
            plan: &self.plan,
            namespace: &self.namespace,
            owner: &self.owner,
            cluster,
        }
    }
}

/// The edges of a canary; a provider or target kind this build does not drive is invalid input
/// naming the spec line.
pub fn choose<'a>(s: &Scope<'a>) -> Result<Edges<'a>, Error> {
    let (c, plan, namespace, owner) = (s.canary, s.plan, s.namespace, s.owner);
    let workload: Box<dyn Workload + 'a> = match (plan.target.kind, plan.service.as_ref()) {
        (TargetKind::Deployment, Some(service)) => Box::new(DeploymentWorkload {
            plan,
            namespace,
            opts: &s.cluster.workload,
            owner,
            service,
            autoscaler: plan.autoscaler.as_ref(),
        }),
        (TargetKind::Service, _)
            if plan.target.api_version == crate::workload::knative::API_VERSION =>
        {
            Box::new(KnativeWorkload { plan, namespace })
        }
        (TargetKind::Service, _) => Box::new(ServiceWorkload {
            plan,
            namespace,
            owner,
            opts: &s.cluster.workload,
        }),
        (TargetKind::DaemonSet, Some(service)) => Box::new(DaemonSetWorkload {
            plan,
            namespace,
            opts: &s.cluster.workload,
            owner,
            service,
        }),
        (TargetKind::Deployment | TargetKind::DaemonSet, None) => {
            let why = format!(
                "a {:?} target needs spec.service (its -primary, -canary and apex Services are made from it)",
                plan.target.kind
            );
            return Err(unsupported(c, &["spec", "service"], why));
        }
    };
    let (router, observer): Routing<'a> = match plan.provider {
        Provider::Nginx => nginx(s)?,
        Provider::GatewayApiV1 => (gateway(s, gateway_api::V1)?, Some(Observer::Http)),
        Provider::GatewayApiV1beta1 => (gateway(s, gateway_api::V1BETA1)?, Some(Observer::Http)),
        Provider::Kubernetes => (Box::new(NoL7), Some(Observer::Http)),
        Provider::Istio => (istio(s)?, Some(Observer::Istio)),
        Provider::Linkerd => (smi(s, SplitVersion::V1alpha1)?, Some(Observer::Linkerd)),
        // Flagger observes `smi:*` with its fallback (Istio) queries.
        Provider::SmiV1alpha1 => (smi(s, SplitVersion::V1alpha1)?, Some(Observer::Istio)),
        Provider::SmiV1alpha2 => (smi(s, SplitVersion::V1alpha2)?, Some(Observer::Istio)),
        Provider::SmiV1alpha3 => (smi(s, SplitVersion::V1alpha3)?, Some(Observer::Istio)),
        Provider::Skipper => skipper(s)?,
        Provider::Contour => contour(s)?,
        Provider::Traefik => (traefik(s)?, Some(Observer::Traefik)),
        Provider::Apisix => apisix(s)?,
        Provider::Gloo => gloo(s)?,
        Provider::Kuma => (kuma(s), Some(Observer::Kuma)),
        Provider::Knative => {
            let router = Knative {
                namespace,
                name: &plan.names.target,
            };
            (Box::new(router), Some(Observer::Knative))
        }
        Provider::Appmesh | Provider::AppmeshV1beta2 | Provider::Osm => {
            let why = format!(
                "provider {} is not driven by canary-gate (its mesh is gone; it drives {})",
                plan.provider.as_str(),
                crate::spec::validate::provider_names(crate::spec::validate::ACTED_ON_PROVIDERS)
            );
            return Err(unsupported(c, &["spec", "provider"], why));
        }
    };
    Ok(Edges {
        workload,
        router,
        observer,
    })
}

/// A router and the provider's built-in metric queries (Flagger's observers).
type Routing<'a> = (Box<dyn TrafficRouter + 'a>, Option<Observer<'a>>);

/// NGINX: the canary Ingress, observed by ingress-nginx's own metrics. Without `spec.service`
/// (a Service target) there is no apex for the Ingress to route through: no L7 routing.
fn nginx<'a>(s: &Scope<'a>) -> Result<Routing<'a>, Error> {
    let names = &s.plan.names;
    let (Some(ingress), Some(canary_ingress)) = (&names.ingress, &names.canary_ingress) else {
        let why = "provider nginx needs spec.ingressRef".to_string();
        return Err(unsupported(s.canary, &["spec", "provider"], why));
    };
    let observer = Some(Observer::Nginx { ingress });
    let Some(service) = s.plan.service.as_ref() else {
        return Ok((Box::new(NoL7), observer));
    };
    let router = Nginx {
        pair: ingress_pair(s, ingress, canary_ingress, &service.name),
        prefix: &s.cluster.ingress_prefix,
        matches: ab_matches(s.plan),
    };
    Ok((Box::new(router), observer))
}

/// The user's Ingress and its copy, for the Ingress-based routers.
fn ingress_pair<'a>(
    s: &Scope<'a>,
    ingress: &'a str,
    canary_ingress: &'a str,
    apex: &'a str,
) -> IngressPair<'a> {
    IngressPair {
        namespace: s.namespace,
        ingress,
        canary_ingress,
        apex,
        owner: s.owner,
    }
}

/// Skipper: the canary copy of the user's Ingress, observed by Skipper's route metrics. It needs
/// the apex Service the Ingress routes to.
fn skipper<'a>(s: &Scope<'a>) -> Result<Routing<'a>, Error> {
    let names = &s.plan.names;
    let (Some(ingress), Some(canary_ingress), Some(service)) = (
        &names.ingress,
        &names.canary_ingress,
        s.plan.service.as_ref(),
    ) else {
        let why = "provider skipper needs spec.ingressRef and spec.service".to_string();
        return Err(unsupported(s.canary, &["spec", "provider"], why));
    };
    let observer = Some(Observer::Skipper {
        ingress,
        service: &service.name,
    });
    let router = Skipper {
        pair: ingress_pair(s, ingress, canary_ingress, &service.name),
    };
    Ok((Box::new(router), observer))
}

/// Contour: the HTTPProxy named after the apex Service, observed by Envoy's cluster series;
/// without `spec.service`, no L7 routing.
fn contour<'a>(s: &Scope<'a>) -> Result<Routing<'a>, Error> {
    let (Some(service), Some(input)) =
        (s.plan.service.as_ref(), contour::input(s.plan, s.namespace))
    else {
        return Ok((Box::new(NoL7), None));
    };
    let observer = Some(Observer::Contour {
        service: &service.name,
    });
    let router = OneObject {
        object: input,
        owner: s.owner,
        extra: &service.apex,
    };
    Ok((Box::new(router), observer))
}

/// APISIX: the canary copy of the user's ApisixRoute, observed by APISIX's prometheus plugin.
/// It needs the apex Service the route's backend names.
fn apisix<'a>(s: &Scope<'a>) -> Result<Routing<'a>, Error> {
    let (Some(route), Some(service)) = (&s.plan.names.route_ref, s.plan.service.as_ref()) else {
        let why = "provider apisix needs spec.routeRef and spec.service".to_string();
        return Err(unsupported(s.canary, &["spec", "provider"], why));
    };
    let router = Apisix {
        namespace: s.namespace,
        route,
        apex: &service.name,
        owner: s.owner,
    };
    Ok((Box::new(router), Some(Observer::Apisix { route })))
}

/// Gloo: the two Upstreams and the RouteTable, observed by Envoy's cluster series; without
/// `spec.service`, no L7 routing.
fn gloo<'a>(s: &Scope<'a>) -> Result<Routing<'a>, Error> {
    let Some(service) = s.plan.service.as_ref() else {
        return Ok((Box::new(NoL7), Some(Observer::Gloo)));
    };
    let upstream_ref =
        (s.plan.names.upstream_ref.as_ref()).map(|(ns, n)| (ns.as_deref(), n.as_str()));
    let router = Gloo {
        namespace: s.namespace,
        apex: &service.name,
        port: service.port,
        ab: ab_matches(s.plan),
        upstream_ref,
        owner: s.owner,
        extra: &service.apex,
    };
    Ok((Box::new(router), Some(Observer::Gloo)))
}

/// Kuma: the cluster-scoped TrafficRoute; without `spec.service`, no L7 routing.
fn kuma<'a>(s: &Scope<'a>) -> Box<dyn TrafficRouter + 'a> {
    let Some(service) = s.plan.service.as_ref() else {
        return Box::new(NoL7);
    };
    Box::new(Kuma {
        namespace: s.namespace,
        apex: &service.name,
        port: service.port,
        mesh: &s.plan.names.mesh,
        owner: s.owner,
        extra: &service.apex,
    })
}

/// Traefik: the TraefikService named after the apex Service; without `spec.service`, no L7
/// routing.
fn traefik<'a>(s: &Scope<'a>) -> Result<Box<dyn TrafficRouter + 'a>, Error> {
    let (Some(service), Some(input)) =
        (s.plan.service.as_ref(), traefik::input(s.plan, s.namespace))
    else {
        return Ok(Box::new(NoL7));
    };
    Ok(Box::new(OneObject {
        object: input,
        owner: s.owner,
        extra: &service.apex,
    }))
}

/// Gateway API: the HTTPRoute of `api_version`; without `spec.service`, no L7 routing.
fn gateway<'a>(
    s: &Scope<'a>,
    api_version: &'static str,
) -> Result<Box<dyn TrafficRouter + 'a>, Error> {
    let Some(service) = s.plan.service.as_ref() else {
        return Ok(Box::new(NoL7));
    };
    let input = gateway_api::input(s.plan, s.namespace, api_version).ok_or_else(|| {
        let why = "the Gateway API router needs spec.service".to_string();
        unsupported(s.canary, &["spec", "provider"], why)
    })?;
    Ok(Box::new(GatewayApi {
        input,
        owner: s.owner,
        extra: &service.apex,
    }))
}

/// Istio: the VirtualService and DestinationRules; without `spec.service`, no L7 routing.
fn istio<'a>(s: &Scope<'a>) -> Result<Box<dyn TrafficRouter + 'a>, Error> {
    let (Some(service), Some(input)) = (s.plan.service.as_ref(), istio::input(s.plan)) else {
        return Ok(Box::new(NoL7));
    };
    Ok(Box::new(Istio {
        input,
        namespace: s.namespace,
        owner: s.owner,
        extra: &service.apex,
    }))
}

/// SMI (and Linkerd): the TrafficSplit of `version`; without `spec.service`, no L7 routing.
fn smi<'a>(s: &Scope<'a>, version: SplitVersion) -> Result<Box<dyn TrafficRouter + 'a>, Error> {
    let (Some(service), Some(input)) = (
        s.plan.service.as_ref(),
        smi::input(s.plan, version, s.namespace),
    ) else {
        return Ok(Box::new(NoL7));
    };
    Ok(Box::new(OneObject {
        object: input,
        owner: s.owner,
        extra: &service.apex,
    }))
}

fn ab_matches(plan: &Plan) -> &[crate::spec::model::HttpMatch] {
    match &plan.strategy {
        Strategy::AbTesting { matches, .. } => matches,
        Strategy::Canary { .. } | Strategy::BlueGreen { .. } => &[],
    }
}

/// `file:line:col: canary NAME: why`, exit 2.
fn unsupported(c: &Canary, path: &[&str], why: String) -> Error {
    let p = crate::spec::path::FieldPath::of(path);
    let at = format!("{}:{}", c.origin.file, c.origin.pos(&p));
    Error::Invalid(format!("{at}: canary {}: {why}", c.name))
}
