//! The validated model: what a `Canary` means once Flagger's defaults are applied.
//!
//! Owns the types the rest of canary-gate reads (never the wire types). Each value that a report
//! may point at keeps its [`FieldPath`]; [`Origin`] turns a path back into `file:line:col`.

use crate::spec::diag::{Diagnostic, Severity};
use crate::spec::path::FieldPath;
use crate::spec::yaml::{Node, Pos};
use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::spec::wire::{
    AlertProviderType, AutoscalerKind, BackendRef, CorsPolicy, GatewayRef, HeaderOperations,
    Headers, HttpMatch, MetricProviderType, Mirror, Provider, Rewrite, SameSite,
    Severity as AlertSeverity, StringMatch, TargetKind, TrafficDistribution,
};

/// Where a document came from: the file and its positioned tree.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The file as the user named it.
    pub file: String,
    /// The document.
    pub doc: Node,
}

impl Origin {
    /// The position of the value at `path` (or of its nearest existing parent).
    pub fn pos(&self, path: &FieldPath) -> Pos {
        path.pos_in(&self.doc)
    }

    /// A finding about `path` in this document.
    pub fn diag(
        &self,
        severity: Severity,
        path: &FieldPath,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(severity, &self.file, self.pos(path), path.clone(), message)
    }
}

/// A validated `Canary`.
#[derive(Clone, Debug)]
pub struct Canary {
    /// Where it was read from.
    pub origin: Origin,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set (otherwise the context's).
    pub namespace: Option<String>,
    /// `spec.provider` as written.
    pub provider: Option<Provider>,
    /// The provider canary-gate will use (see `effective_provider`).
    pub effective_provider: Provider,
    /// `spec.metricsServer`.
    pub metrics_server: Option<String>,
    /// `spec.targetRef`.
    pub target: ObjectRef,
    /// `spec.autoscalerRef`.
    pub autoscaler: Option<Autoscaler>,
    /// `spec.ingressRef.name`.
    pub ingress: Option<String>,
    /// `spec.routeRef.name` (APISIX).
    pub route_ref: Option<String>,
    /// `spec.upstreamRef` (Gloo): its namespace (default the canary's) and name.
    pub upstream_ref: Option<(Option<String>, String)>,
    /// The `kuma.io/mesh` annotation (Kuma's mesh; Flagger's default is `default`).
    pub mesh: Option<String>,
    /// `spec.service` (absent only for Knative targets, which need no ClusterIP Services).
    pub service: Option<Service>,
    /// `spec.analysis` (or `canaryAnalysis`).
    pub analysis: Analysis,
    /// `spec.progressDeadlineSeconds` (default 600 s).
    pub progress_deadline: Duration,
    /// `spec.skipAnalysis`.
    pub skip_analysis: bool,
    /// `spec.revertOnDeletion`.
    pub revert_on_deletion: bool,
    /// `spec.suspend`.
    pub suspend: bool,
}

/// A reference to a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// API version.
    pub api_version: String,
    /// Kind.
    pub kind: TargetKind,
    /// Name.
    pub name: String,
}

/// `spec.autoscalerRef`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Autoscaler {
    /// API version.
    pub api_version: String,
    /// Kind.
    pub kind: AutoscalerKind,
    /// Name.
    pub name: String,
    /// Replica bounds for the primary's copy.
    pub primary_min_replicas: Option<u32>,
    /// Replica bounds for the primary's copy.
    pub primary_max_replicas: Option<u32>,
}

/// `spec.service` with defaults applied.
#[derive(Clone, Debug)]
pub struct Service {
    /// Apex Service name (default: the target's name).
    pub name: String,
    /// Service port.
    pub port: u16,
    /// Port name (default `http`).
    pub port_name: String,
    /// Container port (default: `port`).
    pub target_port: PortRef,
    /// `appProtocol` of the first port.
    pub app_protocol: Option<String>,
    /// `trafficDistribution`.
    pub traffic_distribution: Option<TrafficDistribution>,
    /// Add every container port.
    pub port_discovery: bool,
    /// `clusterIP: None`.
    pub headless: bool,
    /// Gateway API parents.
    pub gateway_refs: Vec<GatewayRef>,
    /// Hostnames.
    pub hosts: Vec<String>,
    /// Route matches.
    pub matches: Vec<HttpMatch>,
    /// Route timeout.
    pub timeout: Option<Duration>,
    /// Backend timeout.
    pub backend_timeout: Option<Duration>,
    /// Request and response header operations.
    pub headers: Option<Headers>,
    /// URL rewrite.
    pub rewrite: Option<Rewrite>,
    /// CORS policy.
    pub cors: Option<CorsPolicy>,
    /// Mirror targets (`RequestMirror` filters).
    pub mirror: Vec<Mirror>,
    /// Istio gateways the VirtualService binds to (none: the `mesh` gateway).
    pub gateways: Vec<String>,
    /// Istio `HTTPRetry`, as written.
    pub retries: Option<serde_json::Value>,
    /// Istio DestinationRule `trafficPolicy`, as written.
    pub traffic_policy: Option<serde_json::Value>,
    /// Istio delegation: the VirtualService is a delegate (no hosts, no gateways).
    pub delegation: bool,
    /// Extra metadata of the apex Service.
    pub apex: Metadata,
    /// Extra metadata of `<svc>-primary`.
    pub primary: Metadata,
    /// Extra metadata of `<svc>-canary`.
    pub canary: Metadata,
    /// Label keys left alone on owned Services.
    pub unmanaged_labels: Vec<String>,
    /// Annotation keys left alone on owned Services.
    pub unmanaged_annotations: Vec<String>,
}

/// A container port by number or name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    /// By number.
    Number(u16),
    /// By name.
    Name(String),
}

/// Labels and annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// `spec.analysis` with defaults applied.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// `spec.analysis` or `spec.canaryAnalysis`: where the fields below live.
    pub path: FieldPath,
    /// Time between steps.
    pub interval: Duration,
    /// Failed checks before rollback (at least 1).
    pub threshold: u32,
    /// A/B and blue/green iterations (0 when unset).
    pub iterations: u32,
    /// `maxWeight` as written.
    pub max_weight: Option<u32>,
    /// `stepWeight` as written.
    pub step_weight: Option<u32>,
    /// `stepWeights` as written.
    pub step_weights: Vec<u32>,
    /// `stepWeightPromotion` (0: all at once).
    pub step_weight_promotion: u32,
    /// `mirror`.
    pub mirror: bool,
    /// `mirrorWeight` (default 100).
    pub mirror_weight: u32,
    /// `primaryReadyThreshold` (default 100).
    pub primary_ready_threshold: u32,
    /// `canaryReadyThreshold` (default 100).
    pub canary_ready_threshold: u32,
    /// A/B conditions.
    pub matches: Vec<HttpMatch>,
    /// Checks.
    pub metrics: Vec<Metric>,
    /// Gates and hooks.
    pub webhooks: Vec<Webhook>,
    /// Notifications (parsed, not sent).
    pub alerts: Vec<Alert>,
    /// Sticky sessions.
    pub session_affinity: Option<SessionAffinity>,
}

/// Built-in checks every router can answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Percentage of non-5xx responses.
    RequestSuccessRate,
    /// Mean request duration in milliseconds.
    RequestDuration,
}

impl Builtin {
    /// The reserved metric name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::RequestSuccessRate => "request-success-rate",
            Builtin::RequestDuration => "request-duration",
        }
    }

    /// The built-in check for a metric name, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "request-success-rate" => Some(Builtin::RequestSuccessRate),
            "request-duration" => Some(Builtin::RequestDuration),
            _ => None,
        }
    }
}

/// One check of `spec.analysis.metrics`.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Where it is in the spec.
    pub path: FieldPath,
    /// Name.
    pub name: String,
    /// Set when the name is a built-in check.
    pub builtin: Option<Builtin>,
    /// Query window: `interval`, default 1m for built-in and inline checks.
    pub interval: Option<Duration>,
    /// `interval` exactly as written (what a template's `{{ interval }}` receives).
    pub interval_text: Option<String>,
    /// Lowest passing value.
    pub min: Option<f64>,
    /// Highest passing value.
    pub max: Option<f64>,
    /// The MetricTemplate, if any.
    pub template: Option<TemplateRef>,
    /// Inline PromQL, if any.
    pub query: Option<String>,
    /// `templateVariables`.
    pub variables: BTreeMap<String, String>,
}

/// A reference to a MetricTemplate or AlertProvider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateRef {
    /// Name.
    pub name: String,
    /// Namespace, when set (otherwise the canary's).
    pub namespace: Option<String>,
}

/// When a webhook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// Gate before a new revision starts.
    ConfirmRollout,
    /// Before the first traffic shift.
    PreRollout,
    /// At every analysis step.
    Rollout,
    /// Gate before each weight increase.
    ConfirmTrafficIncrease,
    /// Gate before promotion.
    ConfirmPromotion,
    /// After promotion or rollback.
    PostRollout,
    /// Manual rollback trigger.
    Rollback,
    /// On every event.
    Event,
}

impl HookKind {
    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::ConfirmRollout => "confirm-rollout",
            HookKind::PreRollout => "pre-rollout",
            HookKind::Rollout => "rollout",
            HookKind::ConfirmTrafficIncrease => "confirm-traffic-increase",
            HookKind::ConfirmPromotion => "confirm-promotion",
            HookKind::PostRollout => "post-rollout",
            HookKind::Rollback => "rollback",
            HookKind::Event => "event",
        }
    }
}

/// One entry of `spec.analysis.webhooks`.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// Where it is in the spec.
    pub path: FieldPath,
    /// Name.
    pub name: String,
    /// When it runs.
    pub kind: HookKind,
    /// Where it is sent.
    pub url: String,
    /// Request timeout (default 10 s).
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Skip TLS verification.
    pub disable_tls: bool,
    /// Do not alert on failure.
    pub mute_alert: bool,
    /// Forwarded in the payload.
    pub metadata: BTreeMap<String, String>,
}

/// One entry of `spec.analysis.alerts`.
#[derive(Clone, Debug)]
pub struct Alert {
    /// Where it is in the spec.
    pub path: FieldPath,
    /// Name.
    pub name: String,
    /// Severity (default info).
    pub severity: AlertSeverity,
    /// The AlertProvider.
    pub provider: TemplateRef,
}

/// `spec.analysis.sessionAffinity`.
#[derive(Clone, Debug)]
pub struct SessionAffinity {
    /// Canary cookie.
    pub cookie_name: String,
    /// Primary cookie.
    pub primary_cookie_name: Option<String>,
    /// Max-Age in seconds (default 86400).
    pub max_age: u32,
    /// Cookie domain.
    pub domain: Option<String>,
    /// Cookie path.
    pub path: Option<String>,
    /// SameSite.
    pub same_site: Option<SameSite>,
    /// Secure.
    pub secure: bool,
    /// HttpOnly.
    pub http_only: bool,
    /// Partitioned.
    pub partitioned: bool,
}

/// A validated `MetricTemplate`.
#[derive(Clone, Debug)]
pub struct MetricTemplate {
    /// Where it was read from.
    pub origin: Origin,
    /// Name.
    pub name: String,
    /// Namespace, if set.
    pub namespace: Option<String>,
    /// Backend type.
    pub provider: MetricProviderType,
    /// Backend address.
    pub address: Option<String>,
    /// Extra headers.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Credentials Secret.
    pub secret: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Skip TLS verification.
    pub insecure_skip_verify: bool,
    /// The query template.
    pub query: String,
    /// How queries authenticate to a managed Prometheus (`canary-gate.dev/metrics-auth`).
    pub cloud_auth: Option<MetricsAuth>,
}

/// The annotation that names how a MetricTemplate's queries authenticate to a managed Prometheus.
pub const METRICS_AUTH_ANNOTATION: &str = "canary-gate.dev/metrics-auth";

/// How queries authenticate to a managed Prometheus service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAuth {
    /// Only what the template's Secret gives (the default for any other address).
    None,
    /// Amazon Managed Service for Prometheus: SigV4 for `aps`.
    AwsSigV4,
    /// Google Cloud Managed Service for Prometheus: a Google access token.
    Google,
    /// Azure Monitor managed Prometheus: an Entra ID token.
    Azure,
}

impl MetricsAuth {
    /// The setting's values.
    pub const VALUES: &'static str = "none, aws-sigv4, google, azure";

    /// From a setting's value.
    pub fn parse(s: &str) -> Option<MetricsAuth> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(MetricsAuth::None),
            "aws-sigv4" | "aws" | "sigv4" => Some(MetricsAuth::AwsSigV4),
            "google" | "gcp" => Some(MetricsAuth::Google),
            "azure" => Some(MetricsAuth::Azure),
            _ => None,
        }
    }

    /// What a managed service's own address implies: `aps-workspaces.<region>.amazonaws.com`,
    /// `monitoring.googleapis.com`, `*.prometheus.monitor.azure.com`.
    pub fn for_host(host: &str) -> MetricsAuth {
        if host.starts_with("aps-workspaces.") && host.contains(".amazonaws.com") {
            MetricsAuth::AwsSigV4
        } else if host == "monitoring.googleapis.com" {
            MetricsAuth::Google
        } else if host.ends_with(".prometheus.monitor.azure.com") {
            MetricsAuth::Azure
        } else {
            MetricsAuth::None
        }
    }
}

/// A validated `AlertProvider`: where a canary's alerts go.
#[derive(Clone, Debug)]
pub struct AlertProvider {
    /// Where it was read from (`None`: read from the cluster).
    pub origin: Option<Origin>,
    /// Name.
    pub name: String,
    /// Namespace, if set.
    pub namespace: Option<String>,
    /// The chat service.
    pub kind: AlertProviderType,
    /// `channel` (Flagger's default `general`).
    pub channel: Option<String>,
    /// `username` (Flagger's default `flagger`).
    pub username: Option<String>,
    /// `address`: the webhook URL (a credential).
    pub address: Option<String>,
    /// `proxy`: an HTTP(S) proxy URL.
    pub proxy: Option<String>,
    /// `secretRef.name`: a Secret with `address` (and `token`, `proxy`, `username`, `channel`).
    pub secret: Option<String>,
}
