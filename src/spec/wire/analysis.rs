//! `Canary.spec.analysis` (and its deprecated alias `canaryAnalysis`).

use super::HttpMatch;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `spec.analysis`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Analysis {
    /// Time between steps (`^[0-9]+(m|s)`).
    pub interval: Option<String>,
    /// Failed checks before rollback.
    pub threshold: Option<i64>,
    /// A/B and blue/green iterations.
    pub iterations: Option<i64>,
    /// Highest canary weight (with `stepWeight`).
    pub max_weight: Option<i64>,
    /// Linear weight step.
    pub step_weight: Option<i64>,
    /// Explicit weight schedule.
    pub step_weights: Option<Vec<i64>>,
    /// Primary weight step during promotion.
    pub step_weight_promotion: Option<i64>,
    /// Mirror traffic (Istio, Gateway API).
    pub mirror: Option<bool>,
    /// Percentage of mirrored traffic.
    pub mirror_weight: Option<i64>,
    /// Percent of updated primary replicas that must be available.
    pub primary_ready_threshold: Option<i64>,
    /// Percent of updated canary replicas that must be available.
    pub canary_ready_threshold: Option<i64>,
    /// A/B match conditions.
    #[serde(rename = "match")]
    pub matches: Option<Vec<HttpMatch>>,
    /// Checks.
    pub metrics: Option<Vec<Metric>>,
    /// Gates and hooks.
    pub webhooks: Option<Vec<Webhook>>,
    /// Notifications.
    pub alerts: Option<Vec<Alert>>,
    /// Sticky canary sessions (Istio, Gateway API).
    pub session_affinity: Option<SessionAffinity>,
}

/// `spec.analysis.metrics[]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metric {
    /// Name; `request-success-rate` and `request-duration` are built in.
    pub name: String,
    /// Query window (default 1m for built-in and inline metrics).
    pub interval: Option<String>,
    /// Deprecated single bound.
    pub threshold: Option<f64>,
    /// Accepted range.
    pub threshold_range: Option<ThresholdRange>,
    /// Deprecated inline PromQL.
    pub query: Option<String>,
    /// A MetricTemplate.
    pub template_ref: Option<TemplateRef>,
    /// Values for `{{ variables.<key> }}`.
    pub template_variables: Option<BTreeMap<String, String>>,
}

/// `thresholdRange`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRange {
    /// Lowest passing value.
    pub min: Option<f64>,
    /// Highest passing value.
    pub max: Option<f64>,
}

/// `templateRef` / `providerRef`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// Object name.
    pub name: String,
    /// Defaults to the canary's namespace.
    pub namespace: Option<String>,
}

/// `spec.analysis.webhooks[]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Webhook {
    /// Name.
    pub name: String,
    /// When it runs (default `rollout`).
    #[serde(rename = "type")]
    pub kind: Option<WebhookType>,
    /// Where it is sent.
    pub url: String,
    /// Request timeout (default 10s).
    pub timeout: Option<String>,
    /// Retries (default 0).
    pub retries: Option<i64>,
    /// Skip TLS verification.
    #[serde(rename = "disableTLS")]
    pub disable_tls: Option<bool>,
    /// Do not alert when the gate fails.
    pub mute_alert: Option<bool>,
    /// Forwarded in the payload.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `webhooks[].type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum WebhookType {
    /// Empty: same as `rollout`.
    #[serde(rename = "")]
    Unset,
    /// Gate before a new revision starts.
    #[serde(rename = "confirm-rollout")]
    ConfirmRollout,
    /// Before the first traffic shift.
    #[serde(rename = "pre-rollout")]
    PreRollout,
    /// At every analysis step.
    #[serde(rename = "rollout")]
    Rollout,
    /// Gate before promotion.
    #[serde(rename = "confirm-promotion")]
    ConfirmPromotion,
    /// After promotion or rollback.
    #[serde(rename = "post-rollout")]
    PostRollout,
    /// On every event.
    #[serde(rename = "event")]
    Event,
    /// Manual rollback trigger.
    #[serde(rename = "rollback")]
    Rollback,
    /// Gate before each weight increase.
    #[serde(rename = "confirm-traffic-increase")]
    ConfirmTrafficIncrease,
}

/// `spec.analysis.alerts[]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alert {
    /// Name.
    pub name: String,
    /// `info` (default), `warn` or `error`.
    pub severity: Option<Severity>,
    /// The AlertProvider.
    pub provider_ref: TemplateRef,
}

/// Alert severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Every message.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

/// `spec.analysis.sessionAffinity`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionAffinity {
    /// Cookie that pins a client to the canary.
    pub cookie_name: String,
    /// Cookie that pins a client to the primary.
    pub primary_cookie_name: Option<String>,
    /// Cookie domain.
    pub domain: Option<String>,
    /// HttpOnly.
    pub http_only: Option<bool>,
    /// Max-Age in seconds (default 86400).
    pub max_age: Option<i64>,
    /// Partitioned.
    pub partitioned: Option<bool>,
    /// Cookie path.
    pub path: Option<String>,
    /// SameSite.
    pub same_site: Option<SameSite>,
    /// Secure.
    pub secure: Option<bool>,
}

/// Cookie SameSite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum SameSite {
    /// Strict.
    Strict,
    /// Lax.
    Lax,
    /// None.
    None,
}
