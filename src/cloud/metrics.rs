//! Credentials for the managed Prometheus services' query APIs: Amazon Managed Service for
//! Prometheus takes SigV4-signed requests for the service `aps`
//! (<https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-onboard-query-APIs.html>),
//! Google Cloud Managed Service for Prometheus a Google access token
//! (<https://cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui>), Azure Monitor
//! managed Prometheus an Entra ID token for `https://prometheus.monitor.azure.com`
//! (<https://learn.microsoft.com/en-us/azure/azure-monitor/metrics/prometheus-api-promql>).
//! Tokens are cached as the cluster's are. Must not run queries.

use super::aws::{self, Aws};
use super::azure::{self, Aks};
use super::google::Google;
use super::{Cloud, CloudError, TokenCache};
use crate::spec::model::MetricsAuth;

const AZURE_SCOPE: &str = "https://prometheus.monitor.azure.com/.default";

/// The headers a query needs, per service.
pub struct Signer {
    cloud: Cloud,
    aws: Aws,
    google: TokenCache,
    azure: TokenCache,
}

impl Signer {
    /// A signer over `cloud`.
    pub fn new(cloud: Cloud) -> Signer {
        Signer {
            cloud,
            aws: Aws::new(None),
            google: TokenCache::default(),
            azure: TokenCache::default(),
        }
    }

    /// The headers for a GET of `url` under `auth`; `region` is the template's.
    pub async fn headers(
        &self,
        auth: MetricsAuth,
        url: &str,
        region: Option<&str>,
    ) -> Result<Vec<(String, String)>, CloudError> {
        let bearer = |t: String| vec![("authorization".to_string(), format!("Bearer {t}"))];
        match auth {
            MetricsAuth::None => Ok(Vec::new()),
            MetricsAuth::AwsSigV4 => {
                let what = "Amazon Managed Service for Prometheus query";
                let region = region
                    .map(str::to_string)
                    .or_else(|| region_of(url))
                    .or_else(|| aws::region(&self.cloud, None))
                    .ok_or_else(|| {
                        CloudError::Invalid(format!(
                            "{what}: no region: set the MetricTemplate's spec.provider.region or AWS_REGION"
                        ))
                    })?;
                aws::sign_aps(&self.cloud, &self.aws, &region, "GET", url).await
            }
            MetricsAuth::Google => {
                let what = "Google Managed Prometheus query";
                let fetch = async {
                    Google::from_env(&self.cloud, what)?
                        .token(&self.cloud, what)
                        .await
                };
                Ok(bearer(self.google.current(fetch).await?))
            }
            MetricsAuth::Azure => {
                let what = "Azure Monitor query";
                let app = Aks::default();
                let fetch = azure::entra_token(&self.cloud, what, &app, AZURE_SCOPE);
                Ok(bearer(self.azure.current(fetch).await?))
            }
        }
    }
}

/// The region in an `aps-workspaces.<region>.amazonaws.com` address.
fn region_of(url: &str) -> Option<String> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_string();
    let rest = host.strip_prefix("aps-workspaces.")?;
    rest.split('.').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_region_comes_from_the_workspace_address() {
        assert_eq!(
            super::region_of(
                "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/query?query=up"
            ),
            Some("eu-west-1".into())
        );
        assert_eq!(super::region_of("http://127.0.0.1:9/x"), None);
    }
}
