//! `Canary.spec.service`: the ClusterIP services and the routing options of every provider.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `spec.service`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Apex Service name (default: the target's name).
    pub name: Option<String>,
    /// Service port (required).
    pub port: Option<i64>,
    /// Port name (default `http`).
    pub port_name: Option<String>,
    /// Container port, number or name (default: `port`).
    pub target_port: Option<IntOrString>,
    /// Copied to the first service port.
    pub app_protocol: Option<String>,
    /// `PreferClose`, `PreferSameZone` or `PreferSameNode`.
    pub traffic_distribution: Option<TrafficDistribution>,
    /// Add every container port of the target to the Services.
    pub port_discovery: Option<bool>,
    /// `clusterIP: None` on the generated Services.
    pub headless: Option<bool>,
    /// Istio-style request timeout; Gateway API route timeout.
    pub timeout: Option<String>,
    /// Gateway API backend request timeout.
    pub backend_timeout: Option<String>,
    /// Gateway API parent references.
    pub gateway_refs: Option<Vec<GatewayRef>>,
    /// Hostnames (Istio hosts, Gateway API hostnames).
    pub hosts: Option<Vec<String>>,
    /// Request matches for the route (Istio, Gateway API).
    #[serde(rename = "match")]
    pub matches: Option<Vec<HttpMatch>>,
    /// Istio gateways.
    pub gateways: Option<Vec<String>>,
    /// Istio retries (an Istio `HTTPRetry`, copied onto the VirtualService as written).
    pub retries: Option<serde_json::Value>,
    /// Istio / Gateway API header manipulation.
    pub headers: Option<Headers>,
    /// Istio / Gateway API CORS policy.
    pub cors_policy: Option<CorsPolicy>,
    /// Istio / Gateway API URL rewrite.
    pub rewrite: Option<Rewrite>,
    /// Istio VirtualService delegation.
    pub delegation: Option<bool>,
    /// Istio DestinationRule traffic policy (copied onto both DestinationRules as written).
    pub traffic_policy: Option<serde_json::Value>,
    /// Gateway API mirror targets (`RequestMirror` filters).
    pub mirror: Option<Vec<Mirror>>,
    /// App Mesh mesh name.
    pub mesh_name: Option<String>,
    /// App Mesh backends.
    pub backends: Option<Vec<String>>,
    /// Labels and annotations for the apex Service (and the generated route object).
    pub apex: Option<CustomMetadata>,
    /// Labels and annotations for `<svc>-primary`.
    pub primary: Option<CustomMetadata>,
    /// Labels and annotations for `<svc>-canary`.
    pub canary: Option<CustomMetadata>,
    /// Keys kept as they are on Services canary-gate owns.
    pub unmanaged_metadata: Option<UnmanagedMetadata>,
}

/// An integer or a string (`targetPort`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A port number.
    Int(i64),
    /// A port name.
    Str(String),
}

/// `spec.service.trafficDistribution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TrafficDistribution {
    /// Prefer endpoints close to the client.
    PreferClose,
    /// Prefer endpoints in the same zone.
    PreferSameZone,
    /// Prefer endpoints on the same node.
    PreferSameNode,
}

/// Labels and annotations to add to a generated object.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetadata {
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `spec.service.unmanagedMetadata`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnmanagedMetadata {
    /// Label keys left alone.
    pub labels: Option<Vec<String>>,
    /// Annotation keys left alone.
    pub annotations: Option<Vec<String>>,
}

/// A Gateway API parent reference (`spec.service.gatewayRefs[]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayRef {
    /// Gateway name.
    pub name: String,
    /// Gateway namespace (default: the route's).
    pub namespace: Option<String>,
    /// API group (default `gateway.networking.k8s.io`).
    pub group: Option<String>,
    /// Kind (default `Gateway`).
    pub kind: Option<String>,
    /// Listener name.
    pub section_name: Option<String>,
    /// Listener port.
    pub port: Option<i64>,
}

/// An Istio-style request match (`spec.service.match[]`, `spec.analysis.match[]`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpMatch {
    /// Match name.
    pub name: Option<String>,
    /// URI match.
    pub uri: Option<StringMatch>,
    /// Scheme match.
    pub scheme: Option<StringMatch>,
    /// Method match.
    pub method: Option<StringMatch>,
    /// Authority match.
    pub authority: Option<StringMatch>,
    /// Header matches by header name (`cookie` means a cookie for NGINX).
    pub headers: Option<BTreeMap<String, StringMatch>>,
    /// Port.
    pub port: Option<i64>,
    /// Source workload labels.
    pub source_labels: Option<BTreeMap<String, String>>,
    /// Istio gateways.
    pub gateways: Option<Vec<String>>,
    /// Query parameter matches.
    pub query_params: Option<BTreeMap<String, StringMatch>>,
    /// Case-insensitive URI match.
    pub ignore_uri_case: Option<bool>,
    /// Negative header matches.
    pub without_headers: Option<BTreeMap<String, StringMatch>>,
    /// Source namespace.
    pub source_namespace: Option<String>,
    /// Istio stats prefix.
    pub stat_prefix: Option<String>,
}

/// One string condition: exactly one of the fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StringMatch {
    /// Equal to.
    pub exact: Option<String>,
    /// Starts with.
    pub prefix: Option<String>,
    /// Ends with.
    pub suffix: Option<String>,
    /// RE2 regular expression.
    pub regex: Option<String>,
}

/// `spec.service.headers`: what the route does to request and response headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    /// Operations on the request.
    pub request: Option<HeaderOperations>,
    /// Operations on the response.
    pub response: Option<HeaderOperations>,
}

/// Header operations: set (overwrite), add (append) and remove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderOperations {
    /// Headers overwritten.
    pub set: Option<BTreeMap<String, String>>,
    /// Headers appended.
    pub add: Option<BTreeMap<String, String>>,
    /// Headers removed.
    pub remove: Option<Vec<String>>,
}

/// `spec.service.corsPolicy` (Istio's CORS policy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CorsPolicy {
    /// Allowed origins, as written.
    pub allow_origin: Option<Vec<String>>,
    /// Allowed origins as string matches (Istio only).
    pub allow_origins: Option<Vec<StringMatch>>,
    /// Allowed methods.
    pub allow_methods: Option<Vec<String>>,
    /// Allowed request headers.
    pub allow_headers: Option<Vec<String>>,
    /// Response headers the browser may read.
    pub expose_headers: Option<Vec<String>>,
    /// How long a preflight answer may be cached (a Go duration).
    pub max_age: Option<String>,
    /// Whether credentials are allowed.
    pub allow_credentials: Option<bool>,
}

/// `spec.service.rewrite`: the URI and authority a request is rewritten to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// The new path (or path prefix).
    pub uri: Option<String>,
    /// The new host.
    pub authority: Option<String>,
    /// `ReplacePrefixMatch`; anything else means `ReplaceFullPath` (Gateway API).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `spec.service.mirror[]`: a Gateway API `RequestMirror` filter.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mirror {
    /// Where copies of the requests go.
    pub backend_ref: BackendRef,
}

/// A Gateway API backend reference.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendRef {
    /// API group (default `""`, the core group).
    pub group: Option<String>,
    /// Kind (default `Service`).
    pub kind: Option<String>,
    /// Name.
    pub name: String,
    /// Namespace (default: the route's).
    pub namespace: Option<String>,
    /// Port (required for a Service).
    pub port: Option<i64>,
}
