//! The analysis's metric checks for one canary: find each metric's template (spec files, then the
//! cluster), attach a template Secret's credentials (masked as soon as read), run the queries
//! through a [`MetricsProvider`] and judge the values with the core's rule. Must not decide the
//! rollout (it returns a gate outcome and the records).

use super::prometheus::{self, Auth, Endpoint};
use super::queries;
use crate::cloud::metrics::Signer;
use crate::rollout::analysis::judge;
use crate::rollout::{GateOutcome, MetricOutcome, MetricRecord, Plan};
use crate::spec::model::{Metric, MetricTemplate, MetricsAuth};

/// Why a metric's queries could not be prepared (the check then fails with this reason).
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The MetricTemplate is in neither the spec files nor the cluster, or is not valid.
    #[error("metric {metric}: {why}")]
    ReadTemplate {
        /// The metric.
        metric: String,
        /// What was wrong.
        why: String,
    },
    /// The template's Secret could not be read.
    #[error("reading secret/{secret} in {namespace}: {reason}")]
    ReadSecret {
        /// The Secret.
        secret: String,
        /// Its namespace.
        namespace: String,
        /// The API's answer in one line.
        reason: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The Secret has no credentials canary-gate knows.
    #[error("secret/{secret} in {namespace} has neither token nor username and password")]
    NoCredentials {
        /// The Secret.
        secret: String,
        /// Its namespace.
        namespace: String,
    },
    /// The query does not render (an unknown variable, a built-in the provider lacks).
    #[error("{0}")]
    Render(String),
}

/// Where queries run: one query, and whether a server answers at all.
#[async_trait::async_trait]
pub trait MetricsProvider: Send + Sync {
    /// Runs one instant query; "empty or NaN" is [`MetricOutcome::NoData`].
    async fn query(&self, endpoint: &Endpoint, promql: &str) -> MetricOutcome;
    /// Whether the server answers `vector(1)` (Flagger's `IsOnline`).
    async fn is_online(&self, endpoint: &Endpoint) -> Result<(), String>;
}

/// The Prometheus HTTP API, with and without TLS verification (`insecureSkipVerify`), and the
/// managed services' credentials.
pub struct Prometheus {
    http: reqwest::Client,
    insecure_http: reqwest::Client,
    cloud: Option<(std::sync::Arc<Signer>, Option<MetricsAuth>)>,
}

impl Prometheus {
    /// The clients; an error when TLS cannot be set up.
    pub fn new() -> Result<Prometheus, String> {
        let insecure_http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Prometheus {
            http: reqwest::Client::new(),
            insecure_http,
            cloud: None,
        })
    }

    /// Queries to managed services signed by `signer`: as a template says, else as `default`
    /// (the `metrics-auth` input) says, else as the address's host implies.
    pub fn with_cloud(
        mut self,
        signer: std::sync::Arc<Signer>,
        default: Option<MetricsAuth>,
    ) -> Prometheus {
        self.cloud = Some((signer, default));
        self
    }

    /// `endpoint` with the headers its managed service wants for `promql`.
    async fn signed(&self, endpoint: &Endpoint, promql: &str) -> Result<Endpoint, String> {
        let Some((signer, default)) = &self.cloud else {
            return Ok(endpoint.clone());
        };
        let host = url::Url::parse(&endpoint.address).ok();
        let auth = endpoint.cloud.or(*default).unwrap_or_else(|| {
            MetricsAuth::for_host(host.as_ref().and_then(|u| u.host_str()).unwrap_or_default())
        });
        let url = prometheus::query_url(endpoint, promql);
        let headers = signer
            .headers(auth, &url, endpoint.region.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let mut signed = endpoint.clone();
        signed.headers.extend(headers);
        Ok(signed)
    }

    fn client(&self, endpoint: &Endpoint) -> &reqwest::Client {
        if endpoint.insecure {
            &self.insecure_http
        } else {
            &self.http
        }
    }
}

#[async_trait::async_trait]
impl MetricsProvider for Prometheus {
    async fn query(&self, endpoint: &Endpoint, promql: &str) -> MetricOutcome {
        match self.signed(endpoint, promql).await {
            Ok(e) => prometheus::query_at(self.client(&e), &e, promql).await,
            Err(why) => MetricOutcome::Failed(why),
        }
    }

    async fn is_online(&self, endpoint: &Endpoint) -> Result<(), String> {
        let e = self.signed(endpoint, "vector(1)").await?;
        prometheus::is_online(self.client(&e), &e).await
    }
}

/// One canary's metric checks.
pub struct MetricChecks<'a> {
    /// The client (templates and Secrets that are not in the spec files).
    pub client: &'a kube::Client,
    /// The canary's namespace.
    pub namespace: &'a str,
    /// Its plan (the metrics to check).
    pub plan: &'a Plan,
    /// MetricTemplates from the spec files.
    pub templates: &'a [MetricTemplate],
    /// Where queries run when neither the template nor the spec names a server.
    pub default_server: String,
    /// Where queries run.
    pub provider: Box<dyn MetricsProvider + 'a>,
    /// The built-in queries of the canary's provider.
    pub observer: Option<queries::Observer<'a>>,
    /// Hides a template Secret's credentials from the log as soon as they are read.
    pub masker: crate::report::console::Masker,
}

impl MetricChecks<'_> {
    /// Where and what to query for one metric (a built-in and a template may both apply): the
    /// template from the spec files or the cluster, its Secret's credentials attached. `latest`
    /// is the Knative target's latest Revision, read once for all the metrics of a check.
    pub async fn queries_for(
        &self,
        m: &Metric,
        latest: Option<&str>,
    ) -> Result<Vec<(Endpoint, String)>, MetricsError> {
        let template = self.template(m).await?;
        let ctx = queries::Context {
            observer: self.observer,
            plan: self.plan,
            namespace: self.namespace,
            default_server: &self.default_server,
            latest_revision: latest,
        };
        let mut out = queries::render(&ctx, m, template.as_ref()).map_err(MetricsError::Render)?;
        // The template's query is the last one (after a built-in of the same name).
        if let Some(t) = &template
            && let Some((endpoint, _)) = out.last_mut()
        {
            endpoint.cloud = t.cloud_auth;
            endpoint.region = t.region.clone();
        }
        if let Some(t) = &template
            && let Some(secret) = &t.secret
        {
            // The template's namespace: its own, else the one the reference named.
            let named = m.template.as_ref().and_then(|r| r.namespace.as_deref());
            let ns = t.namespace.as_deref().or(named).unwrap_or(self.namespace);
            let auth = self.credentials(ns, secret).await?;
            // The template's query is the last one (after a built-in of the same name).
            if let Some((endpoint, _)) = out.last_mut() {
                endpoint.auth = Some(auth);
            }
        }
        Ok(out)
    }

    /// Knative: the target's latest Revision, read now (it names the series of the revision under
    /// analysis); `None` for every other provider, without a request.
    async fn latest_revision(&self) -> Result<Option<String>, MetricsError> {
        if self.observer != Some(queries::Observer::Knative) {
            return Ok(None);
        }
        let read = crate::k8s::desired::ClusterRead::new(self.client, self.namespace);
        let res = crate::workload::knative::service_resource();
        let target = &self.plan.names.target;
        let found = crate::k8s::desired::Read::get(&read, &res, target).await;
        let ksvc =
            found.map_err(|e| MetricsError::Render(format!("reading the Knative Service: {e}")))?;
        Ok(ksvc
            .as_ref()
            .and_then(crate::workload::knative::latest_revision)
            .map(str::to_string))
    }

    async fn template(&self, m: &Metric) -> Result<Option<MetricTemplate>, MetricsError> {
        let Some(r) = &m.template else {
            return Ok(None);
        };
        if let Some(t) = queries::find_template(self.templates, r, self.namespace) {
            return Ok(Some(t.clone()));
        }
        let want_ns = r.namespace.as_deref().unwrap_or(self.namespace);
        crate::k8s::read_template(self.client, want_ns, &r.name)
            .await
            .map(Some)
            .map_err(|why| MetricsError::ReadTemplate {
                metric: m.name.clone(),
                why,
            })
    }

    /// `token`, or `username` + `password`, from a template's Secret.
    async fn credentials(&self, namespace: &str, secret: &str) -> Result<Auth, MetricsError> {
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(self.client.clone(), namespace);
        let s = api
            .get(secret)
            .await
            .map_err(|source| MetricsError::ReadSecret {
                secret: secret.to_string(),
                namespace: namespace.to_string(),
                reason: crate::k8s::write::describe(&source),
                source,
            })?;
        let data = s.data.unwrap_or_default();
        let text = |k: &str| {
            let value = String::from_utf8_lossy(&data.get(k)?.0).into_owned();
            Some(value)
        };
        let secret_value = |v: String| {
            self.masker.mask(&v);
            v
        };
        match (text("token"), text("username"), text("password")) {
            (Some(t), _, _) => Ok(Auth::Bearer(secret_value(t))),
            (None, Some(u), Some(p)) => Ok(Auth::Basic(u, secret_value(p))),
            _ => Err(MetricsError::NoCredentials {
                secret: secret.to_string(),
                namespace: namespace.to_string(),
            }),
        }
    }

    /// Flagger's provider check at the start: every metrics server must answer `vector(1)`.
    /// Returns one warning per server that does not (its checks will fail); nothing is blocked.
    pub async fn offline_servers(&self) -> Vec<String> {
        let mut seen = Vec::new();
        let mut warnings = Vec::new();
        let latest = self.latest_revision().await.ok().flatten();
        for m in &self.plan.metrics {
            let Ok(queries) = self.queries_for(m, latest.as_deref()).await else {
                continue;
            };
            for (endpoint, _) in queries {
                if seen.contains(&endpoint.address) {
                    continue;
                }
                seen.push(endpoint.address.clone());
                if let Err(why) = self.provider.is_online(&endpoint).await {
                    let at = crate::report::redact_url(&endpoint.address);
                    warnings.push(format!("metrics server {at} is not answering: {why}"));
                }
            }
        }
        warnings
    }

    /// Runs every metric's queries, in order, until one fails; the records of those that ran.
    pub async fn check(&self) -> (GateOutcome, Vec<MetricRecord>) {
        let mut records = Vec::new();
        let latest = match self.latest_revision().await {
            Ok(latest) => latest,
            Err(why) => return (GateOutcome::Closed(why.to_string()), records),
        };
        for m in &self.plan.metrics {
            let queries = match self.queries_for(m, latest.as_deref()).await {
                Ok(q) => q,
                Err(why) => return (GateOutcome::Closed(why.to_string()), records),
            };
            for (endpoint, q) in queries {
                let outcome = self.provider.query(&endpoint, &q).await;
                if let MetricOutcome::Value(v) = outcome {
                    tracing::info!("{}: {} = {v:.2}", self.plan.name, m.name);
                }
                let verdict = judge(m, &outcome);
                records.push(MetricRecord {
                    name: m.name.clone(),
                    value: match outcome {
                        MetricOutcome::Value(v) => Some(v),
                        _ => None,
                    },
                    min: m.min,
                    max: m.max,
                    passed: verdict.is_ok(),
                    reason: verdict.clone().err(),
                });
                if let Err(why) = verdict {
                    return (GateOutcome::Closed(why), records);
                }
            }
        }
        (GateOutcome::Open, records)
    }
}
