//! What this build acts on. Every "valid but not acted on" warning is decided here, so a new
//! router or target kind is one edit.

use crate::spec::model::{Provider, TargetKind};

/// Providers whose routing canary-gate drives.
pub const ACTED_ON_PROVIDERS: &[Provider] = &[
    Provider::Nginx,
    Provider::GatewayApiV1,
    Provider::GatewayApiV1beta1,
    Provider::Kubernetes,
    Provider::Istio,
    Provider::Linkerd,
    Provider::SmiV1alpha1,
    Provider::SmiV1alpha2,
    Provider::SmiV1alpha3,
    Provider::Skipper,
    Provider::Contour,
    Provider::Traefik,
    Provider::Apisix,
    Provider::Gloo,
    Provider::Knative,
    Provider::Kuma,
];

/// Target kinds canary-gate drives.
pub const ACTED_ON_TARGETS: &[TargetKind] = &[
    TargetKind::Deployment,
    TargetKind::DaemonSet,
    TargetKind::Service,
];

/// How an unset `spec.provider` was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inferred {
    /// From a field only one provider reads (a notice).
    FromSpec(&'static str),
    /// Flagger's default, which canary-gate does not drive (a warning).
    FlaggerDefault(&'static str),
}

/// The provider canary-gate uses and, when it was not written, how it was chosen.
///
/// Flagger falls back to its controller's `-mesh-provider` flag (default `istio`). canary-gate has
/// no controller, so an unset provider means `nginx` when `spec.ingressRef` is set,
/// `gatewayapi:v1` when `spec.service.gatewayRefs` is, and Flagger's default otherwise.
pub fn effective_provider(
    written: Option<Provider>,
    has_ingress_ref: bool,
    has_gateway_refs: bool,
) -> (Provider, Option<Inferred>) {
    match written {
        Some(p) => (p, None),
        None if has_ingress_ref => (
            Provider::Nginx,
            Some(Inferred::FromSpec(
                "not set; using nginx because spec.ingressRef is set",
            )),
        ),
        None if has_gateway_refs => (
            Provider::GatewayApiV1,
            Some(Inferred::FromSpec(
                "not set; using gatewayapi:v1 because spec.service.gatewayRefs is set",
            )),
        ),
        None => (
            Provider::Istio,
            Some(Inferred::FlaggerDefault(
                "not set: using istio, the default mesh of Flagger's controller (its -mesh-provider flag); if your Flagger ran with another provider, set it here",
            )),
        ),
    }
}

/// The providers that read a routing option of `spec.service`, by field name.
pub fn service_field_users(field: &str) -> &'static [Provider] {
    use Provider::*;
    match field {
        "gatewayRefs" | "backendTimeout" => &[GatewayApiV1, GatewayApiV1beta1],
        // Flagger's service.mirror is a list of Gateway API filters; its v1beta1 router has
        // no CORS filter.
        "mirror" => &[GatewayApiV1, GatewayApiV1beta1],
        "headers" | "rewrite" => &[Istio, GatewayApiV1, GatewayApiV1beta1],
        "corsPolicy" => &[Istio, GatewayApiV1],
        // SMI's root service is the first host.
        "hosts" => &[
            Istio,
            GatewayApiV1,
            GatewayApiV1beta1,
            Contour,
            Gloo,
            Appmesh,
            AppmeshV1beta2,
            Linkerd,
            SmiV1alpha1,
            SmiV1alpha2,
            SmiV1alpha3,
        ],
        "match" | "timeout" => &[
            Istio,
            GatewayApiV1,
            GatewayApiV1beta1,
            Contour,
            Gloo,
            Appmesh,
            AppmeshV1beta2,
        ],
        "gateways" | "retries" | "delegation" | "trafficPolicy" => &[Istio, Contour, Gloo],
        "meshName" | "backends" => &[Appmesh, AppmeshV1beta2],
        _ => &[],
    }
}

/// Providers that implement A/B testing (Flagger's strategy matrix).
pub fn supports_ab(p: Provider) -> bool {
    use Provider::*;
    matches!(
        p,
        Istio
            | Appmesh
            | AppmeshV1beta2
            | Nginx
            | Contour
            | Gloo
            | GatewayApiV1
            | GatewayApiV1beta1
    )
}

/// Providers that implement traffic mirroring.
pub fn supports_mirror(p: Provider) -> bool {
    matches!(
        p,
        Provider::Istio | Provider::GatewayApiV1 | Provider::GatewayApiV1beta1
    )
}

/// Providers that implement session affinity.
pub fn supports_session_affinity(p: Provider) -> bool {
    supports_mirror(p)
}

/// A readable list of providers.
pub fn names(list: &[Provider]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
