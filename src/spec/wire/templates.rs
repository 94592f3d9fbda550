//! `MetricTemplate` and `AlertProvider` documents.

use super::{ObjectMeta, Opaque};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A `MetricTemplate` document.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricTemplateDoc {
    /// Checked before this type is read.
    pub api_version: Opaque,
    /// Checked before this type is read.
    pub kind: Opaque,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec.
    pub spec: Option<MetricTemplateSpec>,
    /// Ignored.
    pub status: Option<Opaque>,
}

/// `MetricTemplate.spec`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTemplateSpec {
    /// The metrics backend.
    pub provider: Option<MetricProvider>,
    /// A Go text/template query.
    pub query: Option<String>,
}

/// `MetricTemplate.spec.provider`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricProvider {
    /// Backend type.
    #[serde(rename = "type")]
    pub kind: Option<MetricProviderType>,
    /// Backend address.
    pub address: Option<String>,
    /// Extra request headers.
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    /// Secret with credentials.
    pub secret_ref: Option<SecretRef>,
    /// Cloud region (CloudWatch).
    pub region: Option<String>,
    /// Skip TLS verification.
    pub insecure_skip_verify: Option<bool>,
}

/// A Secret in the same namespace.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
}

/// `MetricTemplate.spec.provider.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricProviderType {
    /// Prometheus.
    Prometheus,
    /// InfluxDB.
    Influxdb,
    /// Datadog.
    Datadog,
    /// Kubernetes external metrics API.
    Externalmetrics,
    /// Google Cloud Monitoring.
    Stackdriver,
    /// AWS CloudWatch.
    Cloudwatch,
    /// New Relic.
    Newrelic,
    /// Graphite.
    Graphite,
    /// Dynatrace.
    Dynatrace,
    /// Keptn.
    Keptn,
    /// Splunk.
    Splunk,
}

impl MetricProviderType {
    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricProviderType::Prometheus => "prometheus",
            MetricProviderType::Influxdb => "influxdb",
            MetricProviderType::Datadog => "datadog",
            MetricProviderType::Externalmetrics => "externalmetrics",
            MetricProviderType::Stackdriver => "stackdriver",
            MetricProviderType::Cloudwatch => "cloudwatch",
            MetricProviderType::Newrelic => "newrelic",
            MetricProviderType::Graphite => "graphite",
            MetricProviderType::Dynatrace => "dynatrace",
            MetricProviderType::Keptn => "keptn",
            MetricProviderType::Splunk => "splunk",
        }
    }
}

/// An `AlertProvider` document.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertProviderDoc {
    /// Checked before this type is read.
    pub api_version: Opaque,
    /// Checked before this type is read.
    pub kind: Opaque,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec.
    pub spec: Option<AlertProviderSpec>,
    /// Ignored.
    pub status: Option<Opaque>,
}

/// `AlertProvider.spec`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertProviderSpec {
    /// Chat service.
    #[serde(rename = "type")]
    pub kind: Option<AlertProviderType>,
    /// Channel (default `general`).
    pub channel: Option<String>,
    /// Sender name (default `flagger`).
    pub username: Option<String>,
    /// Webhook address.
    pub address: Option<String>,
    /// HTTP proxy.
    pub proxy: Option<String>,
    /// Secret with `address` (and optional `token`).
    pub secret_ref: Option<SecretRef>,
}

/// `AlertProvider.spec.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertProviderType {
    /// Slack.
    Slack,
    /// Microsoft Teams.
    Msteams,
    /// Discord.
    Discord,
    /// Rocket.Chat.
    Rocket,
    /// Google Chat.
    Gchat,
}
