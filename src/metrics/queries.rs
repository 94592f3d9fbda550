//! Which PromQL a metric runs, and against which server: the built-in query for the provider,
//! the MetricTemplate's rendered query, or the inline query.
//!
//! Pure: the caller finds the template (spec files, then the cluster) and attaches a template
//! Secret's credentials; `run` and `plan` render through here alike.

use super::builtin;
use super::prometheus::Endpoint;
use super::template;
use crate::rollout::Plan;
use crate::spec::model::{Metric, MetricTemplate, TemplateRef};

/// Which built-in queries observe a provider's traffic (Flagger's observers), chosen with the
/// router in `driver::edges`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observer<'a> {
    /// ingress-nginx's metrics, by the user's Ingress.
    Nginx {
        /// The user's Ingress.
        ingress: &'a str,
    },
    /// The app's own HTTP histograms (Flagger's generic observer).
    Http,
    /// Istio's `istio_requests_total` and request-duration histogram (also Flagger's fallback
    /// observer, which `smi:*` providers get).
    Istio,
    /// Linkerd's `response_total` and `response_latency_ms` histogram.
    Linkerd,
    /// Skipper's route metrics, by the user's Ingress and the apex Service.
    Skipper {
        /// The user's Ingress.
        ingress: &'a str,
        /// The apex Service.
        service: &'a str,
    },
    /// Envoy's cluster series for the canary Service, as Contour names the clusters.
    Contour {
        /// The apex Service.
        service: &'a str,
    },
    /// Traefik's service histogram for the canary Service.
    Traefik,
    /// Envoy's cluster series for the canary Upstream, as Gloo names the clusters.
    Gloo,
    /// Envoy's cluster series for the latest Revision, as Knative's Kourier names the clusters.
    Knative,
    /// Envoy's series of the canary's Kuma data plane proxies.
    Kuma,
    /// APISIX's prometheus plugin series for the canary ApisixRoute.
    Apisix {
        /// The user's ApisixRoute.
        route: &'a str,
    },
}

/// What rendering needs to know about the canary.
pub struct Context<'a> {
    /// The built-in queries of the canary's provider (`None`: it has none).
    pub observer: Option<Observer<'a>>,
    /// Its plan (provider, object names).
    pub plan: &'a Plan,
    /// The canary's namespace.
    pub namespace: &'a str,
    /// The metrics server when neither the template nor the spec names one.
    pub default_server: &'a str,
    /// Knative: the latest Revision, which Flagger uses for `route` (`None`: not known here).
    pub latest_revision: Option<&'a str>,
}

/// Flagger's `route`: Knative's latest Revision, else `spec.routeRef.name`, else the target.
fn route_of<'a>(ctx: &Context<'a>) -> &'a str {
    let names = &ctx.plan.names;
    ctx.latest_revision
        .or(names.route_ref.as_deref())
        .unwrap_or(&names.target)
}

/// The template `r` names, from the spec files (`canary_ns` when the reference has none).
pub fn find_template<'t>(
    templates: &'t [MetricTemplate],
    r: &TemplateRef,
    canary_ns: &str,
) -> Option<&'t MetricTemplate> {
    let want_ns = r.namespace.as_deref().unwrap_or(canary_ns);
    templates
        .iter()
        .find(|t| t.name == r.name && t.namespace.as_deref().is_none_or(|n| n == want_ns))
}

/// The queries of one metric (a built-in and a template may both apply), without credentials.
pub fn render(
    ctx: &Context<'_>,
    m: &Metric,
    template: Option<&MetricTemplate>,
) -> Result<Vec<(Endpoint, String)>, String> {
    let interval = m.interval_text.clone().unwrap_or_else(|| "1m".into());
    let server = ctx
        .plan
        .metrics_server
        .clone()
        .unwrap_or_else(|| ctx.default_server.to_string());
    let plain = |address: String| Endpoint {
        address,
        ..Endpoint::default()
    };
    let names = &ctx.plan.names;
    let mut out = Vec::new();
    if let Some(b) = m.builtin {
        match ctx.observer {
            Some(Observer::Nginx { ingress }) => out.push((
                plain(server.clone()),
                builtin::nginx(b, ctx.namespace, ingress, &interval),
            )),
            // Flagger's generic HTTP observer: the app's own histograms (reference §5.1).
            Some(Observer::Http) => out.push((
                plain(server.clone()),
                builtin::http(b, ctx.namespace, &ctx.plan.target.name, &interval),
            )),
            Some(Observer::Istio) => out.push((
                plain(server.clone()),
                builtin::istio(b, ctx.namespace, &ctx.plan.target.name, &interval),
            )),
            Some(Observer::Linkerd) => out.push((
                plain(server.clone()),
                builtin::linkerd(b, ctx.namespace, &ctx.plan.target.name, &interval),
            )),
            Some(Observer::Skipper { ingress, service }) => out.push((
                plain(server.clone()),
                builtin::skipper(b, ctx.namespace, ingress, service, &interval),
            )),
            Some(Observer::Contour { service }) => out.push((
                plain(server.clone()),
                builtin::contour(b, ctx.namespace, service, &interval),
            )),
            Some(Observer::Apisix { route }) => out.push((
                plain(server.clone()),
                builtin::apisix(b, ctx.namespace, route, &ctx.plan.target.name, &interval),
            )),
            Some(Observer::Knative) => out.push((
                plain(server.clone()),
                builtin::knative(b, ctx.namespace, route_of(ctx), &interval),
            )),
            Some(Observer::Kuma) => out.push((
                plain(server.clone()),
                builtin::kuma(b, ctx.namespace, &ctx.plan.target.name, &interval),
            )),
            Some(Observer::Gloo) => out.push((
                plain(server.clone()),
                builtin::gloo(b, ctx.namespace, &ctx.plan.target.name, &interval),
            )),
            Some(Observer::Traefik) => out.push((
                plain(server.clone()),
                builtin::traefik(b, ctx.namespace, &ctx.plan.target.name, &interval),
            )),
            None => {
                return Err(format!(
                    "metric {}: built-in checks for provider {} are not implemented yet; use a MetricTemplate",
                    m.name,
                    ctx.plan.provider.as_str()
                ));
            }
        }
    }
    let target = &ctx.plan.target.name;
    let model = template::Model {
        name: &ctx.plan.name,
        namespace: ctx.namespace,
        target,
        service: &names.apex,
        ingress: names.ingress.as_deref().unwrap_or(target),
        route: route_of(ctx),
        interval: &interval,
        variables: &m.variables,
    };
    let rendered =
        |q: &str| template::render(q, &model).map_err(|why| format!("metric {}: {why}", m.name));
    if let Some(t) = template {
        let mut endpoint = plain(t.address.clone().unwrap_or_else(|| server.clone()));
        endpoint.insecure = t.insecure_skip_verify;
        endpoint.headers = t
            .headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
            .collect();
        out.push((endpoint, rendered(&t.query)?));
    } else if let Some(q) = &m.query {
        out.push((plain(server), rendered(q)?));
    }
    Ok(out)
}
