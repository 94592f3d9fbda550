//! Wire types: Flagger's `flagger.app/v1beta1` objects exactly as users write them.
//!
//! Owns the shape of `Canary`, `MetricTemplate` and `AlertProvider` documents — every field
//! Flagger's CRDs accept, with serde renames to the YAML names, unknown fields rejected. No
//! defaults and no rules here (see `validate.rs`); nothing outside `spec/` should need these types.

mod analysis;
mod service;
mod templates;

pub use analysis::*;
pub use service::*;
pub use templates::*;

use serde::Deserialize;
use std::collections::BTreeMap;

/// A value canary-gate accepts in any shape and does not read (routing options of other
/// providers, `status`, server-set metadata).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opaque;

impl<'de> Deserialize<'de> for Opaque {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Opaque)
    }
}

/// `metadata` of any object.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: Option<BTreeMap<String, String>>,
    /// `metadata.annotations`.
    pub annotations: Option<BTreeMap<String, String>>,
    /// Server-set or generator fields, accepted so `kubectl get -o yaml` output validates.
    pub generate_name: Option<Opaque>,
    /// Server-set.
    pub uid: Option<Opaque>,
    /// Server-set.
    pub resource_version: Option<Opaque>,
    /// Server-set.
    pub generation: Option<Opaque>,
    /// Server-set.
    pub creation_timestamp: Option<Opaque>,
    /// Server-set.
    pub deletion_timestamp: Option<Opaque>,
    /// Server-set.
    pub deletion_grace_period_seconds: Option<Opaque>,
    /// Finalizers (Flagger adds one for `revertOnDeletion`).
    pub finalizers: Option<Opaque>,
    /// Owner references.
    pub owner_references: Option<Opaque>,
    /// Server-side apply bookkeeping.
    pub managed_fields: Option<Opaque>,
    /// Deprecated server-set field.
    pub self_link: Option<Opaque>,
}

/// A `Canary` document.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryDoc {
    /// Checked before this type is read.
    pub api_version: Opaque,
    /// Checked before this type is read.
    pub kind: Opaque,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec.
    pub spec: Option<CanarySpec>,
    /// Written by Flagger; ignored.
    pub status: Option<Opaque>,
}

/// `Canary.spec`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanarySpec {
    /// The routing provider.
    pub provider: Option<Provider>,
    /// Prometheus address for built-in and inline-query metrics.
    pub metrics_server: Option<String>,
    /// The workload to canary.
    pub target_ref: Option<TargetRef>,
    /// HPA or KEDA ScaledObject to copy for the primary.
    pub autoscaler_ref: Option<AutoscalerRef>,
    /// The Ingress (NGINX, Skipper).
    pub ingress_ref: Option<LocalRef>,
    /// The ApisixRoute (APISIX).
    pub route_ref: Option<LocalRef>,
    /// The Gloo Upstream.
    pub upstream_ref: Option<UpstreamRef>,
    /// Services and routing options.
    pub service: Option<ServiceSpec>,
    /// The analysis.
    pub analysis: Option<Analysis>,
    /// Deprecated alias of `analysis`.
    pub canary_analysis: Option<Analysis>,
    /// Seconds before a stuck rollout is rolled back.
    pub progress_deadline_seconds: Option<i64>,
    /// Promote without analysis.
    pub skip_analysis: Option<bool>,
    /// Restore the target when the Canary is deleted.
    pub revert_on_deletion: Option<bool>,
    /// Do nothing while true.
    pub suspend: Option<bool>,
}

/// `spec.provider`: Flagger's CRD enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum Provider {
    /// Apache APISIX.
    #[serde(rename = "apisix")]
    Apisix,
    /// AWS App Mesh.
    #[serde(rename = "appmesh")]
    Appmesh,
    /// AWS App Mesh v1beta2.
    #[serde(rename = "appmesh:v1beta2")]
    AppmeshV1beta2,
    /// Contour.
    #[serde(rename = "contour")]
    Contour,
    /// Gateway API v1 HTTPRoute.
    #[serde(rename = "gatewayapi:v1")]
    GatewayApiV1,
    /// Gateway API v1beta1 HTTPRoute.
    #[serde(rename = "gatewayapi:v1beta1")]
    GatewayApiV1beta1,
    /// Gloo.
    #[serde(rename = "gloo")]
    Gloo,
    /// Istio.
    #[serde(rename = "istio")]
    Istio,
    /// Knative.
    #[serde(rename = "knative")]
    Knative,
    /// Plain Kubernetes Services (blue/green, no L7).
    #[serde(rename = "kubernetes")]
    Kubernetes,
    /// Kuma.
    #[serde(rename = "kuma")]
    Kuma,
    /// Linkerd.
    #[serde(rename = "linkerd")]
    Linkerd,
    /// NGINX ingress.
    #[serde(rename = "nginx")]
    Nginx,
    /// Open Service Mesh.
    #[serde(rename = "osm")]
    Osm,
    /// Skipper.
    #[serde(rename = "skipper")]
    Skipper,
    /// SMI v1alpha1.
    #[serde(rename = "smi:v1alpha1")]
    SmiV1alpha1,
    /// SMI v1alpha2.
    #[serde(rename = "smi:v1alpha2")]
    SmiV1alpha2,
    /// SMI v1alpha3.
    #[serde(rename = "smi:v1alpha3")]
    SmiV1alpha3,
    /// Traefik.
    #[serde(rename = "traefik")]
    Traefik,
}

impl Provider {
    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Apisix => "apisix",
            Provider::Appmesh => "appmesh",
            Provider::AppmeshV1beta2 => "appmesh:v1beta2",
            Provider::Contour => "contour",
            Provider::GatewayApiV1 => "gatewayapi:v1",
            Provider::GatewayApiV1beta1 => "gatewayapi:v1beta1",
            Provider::Gloo => "gloo",
            Provider::Istio => "istio",
            Provider::Knative => "knative",
            Provider::Kubernetes => "kubernetes",
            Provider::Kuma => "kuma",
            Provider::Linkerd => "linkerd",
            Provider::Nginx => "nginx",
            Provider::Osm => "osm",
            Provider::Skipper => "skipper",
            Provider::SmiV1alpha1 => "smi:v1alpha1",
            Provider::SmiV1alpha2 => "smi:v1alpha2",
            Provider::SmiV1alpha3 => "smi:v1alpha3",
            Provider::Traefik => "traefik",
        }
    }
}

/// `spec.targetRef`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetRef {
    /// e.g. `apps/v1`.
    pub api_version: String,
    /// `Deployment`, `DaemonSet` or `Service`.
    pub kind: TargetKind,
    /// Object name.
    pub name: String,
}

/// `spec.targetRef.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TargetKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// core/v1 Service (or a Knative Service).
    Service,
}

/// `spec.autoscalerRef`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AutoscalerRef {
    /// `autoscaling/v2` for an HPA.
    pub api_version: String,
    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub kind: AutoscalerKind,
    /// Object name.
    pub name: String,
    /// KEDA: queries for the primary's ScaledObject, by trigger name.
    pub primary_scaler_queries: Option<BTreeMap<String, String>>,
    /// Replica bounds for the primary's autoscaler.
    pub primary_scaler_replicas: Option<ScalerReplicas>,
}

/// `spec.autoscalerRef.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum AutoscalerKind {
    /// autoscaling/v2 HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
    /// KEDA ScaledObject.
    ScaledObject,
}

/// `spec.autoscalerRef.primaryScalerReplicas`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScalerReplicas {
    /// At least 1.
    pub min_replicas: Option<i64>,
    /// At least 1.
    pub max_replicas: Option<i64>,
}

/// A reference to an object in the canary's namespace (`ingressRef`, `routeRef`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalRef {
    /// e.g. `networking.k8s.io/v1`.
    pub api_version: String,
    /// e.g. `Ingress`.
    pub kind: String,
    /// Object name.
    pub name: String,
}

/// `spec.upstreamRef` (Gloo).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpstreamRef {
    /// API version.
    pub api_version: String,
    /// `Upstream`.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Defaults to the canary's namespace.
    pub namespace: Option<String>,
}
