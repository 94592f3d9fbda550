//! Cloud identities turned into credentials, in process and with no cloud CLI: bearer tokens for
//! EKS, GKE and AKS API servers (from the job's GitHub OIDC token or what the usual login actions
//! leave behind), and request signing for the managed Prometheus services. Owns the token
//! protocols, caching and refreshing what they return, and masking every secret they produce
//! before anything can print it. Must not touch the cluster or decide anything about canaries.
//!
//! ```text
//!  kubeconfig exec plugin ──exec.rs──> TokenSource ──fetch──> Token ──Tokens (cache, renew)──> k8s::bearer
//!  (aws eks get-token, aws-iam-authenticator,      │
//!   gke-gcloud-auth-plugin, kubelogin)             ├ aws/   SigV4 (aws-sigv4), STS, EKS
//!                                                  ├ google.rs  external_account, JWT grant, impersonation
//!                                                  └ azure.rs   Entra client assertion
//! ```

pub mod aws;
pub mod azure;
mod env;
pub mod exec;
pub mod google;
mod http;
pub mod metrics;
mod oidc;

pub use env::Env;
pub use http::Cloud;

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a failure of a token service is reported: malformed input is exit 2, a refusal or an
/// unreachable service exit 3. The message names the provider and the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// A credential file, kubeconfig argument or input that cannot be used as given.
    #[error("{0}")]
    Invalid(String),
    /// A token service refused, failed or did not answer.
    #[error("{0}")]
    Refused(String),
}

impl From<CloudError> for crate::error::Error {
    fn from(e: CloudError) -> Self {
        match e {
            CloudError::Invalid(m) => crate::error::Error::Invalid(m),
            CloudError::Refused(m) => crate::error::Error::Infra(m),
        }
    }
}

/// Where cloud credentials come from when no kubeconfig says (the action's cloud inputs), and
/// whether recognised exec plugins are served in process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudSettings {
    /// Run a recognised exec plugin itself when it is on PATH (`cloud-auth: plugin`); by default
    /// canary-gate serves it in process either way.
    pub prefer_plugin: bool,
    /// The AWS role the job's OIDC token assumes (`aws-role-arn`).
    pub aws_role_arn: Option<String>,
    /// The AWS region (`aws-region`).
    pub aws_region: Option<String>,
    /// An EKS cluster to reach with no kubeconfig at all (`eks-cluster`).
    pub eks_cluster: Option<String>,
    /// The Google workload identity provider the job's OIDC token is exchanged with
    /// (`gcp-workload-identity-provider`, `projects/N/locations/global/workloadIdentityPools/P/providers/X`).
    pub gcp_workload_identity_provider: Option<String>,
    /// The Google service account to impersonate (`gcp-service-account`).
    pub gcp_service_account: Option<String>,
    /// The Entra application (client) id (`azure-client-id`).
    pub azure_client_id: Option<String>,
    /// The Entra tenant id (`azure-tenant-id`).
    pub azure_tenant_id: Option<String>,
    /// How metric queries authenticate when their template does not say (`metrics-auth`).
    pub metrics_auth: Option<crate::spec::model::MetricsAuth>,
}

/// A bearer token and how long it may be used.
#[derive(Clone)]
pub struct Token {
    /// The token (masked when it was made).
    pub value: String,
    /// When it was obtained.
    pub fetched: Instant,
    /// When the issuer says it stops working.
    pub expires: Instant,
}

impl Token {
    /// A token valid for `lifetime` from now.
    pub fn new(value: String, lifetime: Duration) -> Token {
        let fetched = Instant::now();
        Token {
            value,
            fetched,
            expires: fetched + lifetime,
        }
    }

    /// Still good for a while: a fifth of its lifetime (at most a minute) is kept in hand, so a
    /// request never leaves with a token about to lapse.
    fn fresh(&self, now: Instant) -> bool {
        let margin = ((self.expires - self.fetched) / 5).min(Duration::from_secs(60));
        now + margin < self.expires
    }
}

/// Who issues the Kubernetes API's bearer token.
pub enum TokenSource {
    /// EKS: a presigned STS GetCallerIdentity URL.
    Eks(aws::Eks),
    /// GKE: a Google OAuth access token.
    Gke(google::Google),
    /// AKS: a Microsoft Entra ID token for the AKS server application.
    Aks(azure::Aks),
}

impl TokenSource {
    /// The provider's name in messages ("EKS token").
    pub fn name(&self) -> &'static str {
        match self {
            TokenSource::Eks(_) => "EKS token",
            TokenSource::Gke(_) => "GKE token",
            TokenSource::Aks(_) => azure::WHAT,
        }
    }

    /// Gets a new token.
    pub async fn fetch(&self, cloud: &Cloud) -> Result<Token, CloudError> {
        let token = match self {
            TokenSource::Eks(p) => p.token(cloud).await?,
            TokenSource::Gke(p) => p.token(cloud, "GKE token").await?,
            TokenSource::Aks(p) => p.token(cloud).await?,
        };
        cloud.mask(&token.value);
        Ok(token)
    }
}

/// A token kept until it is nearly spent.
#[derive(Default)]
pub struct TokenCache {
    cached: tokio::sync::Mutex<Option<Token>>,
}

impl TokenCache {
    /// The cached token while it is fresh, else the one `fetch` gets.
    pub async fn current(
        &self,
        fetch: impl Future<Output = Result<Token, CloudError>>,
    ) -> Result<String, CloudError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.fresh(Instant::now())) {
            return Ok(t.value.clone());
        }
        let token = fetch.await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// A new token after `refused` was refused, unless another request already replaced it.
    pub async fn renew(
        &self,
        refused: &str,
        fetch: impl Future<Output = Result<Token, CloudError>>,
    ) -> Result<String, CloudError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.value != refused) {
            return Ok(t.value.clone());
        }
        let token = fetch.await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }
}

/// A provider's token for the Kubernetes API, cached, renewed once after the API refuses it.
pub struct Tokens {
    cloud: Cloud,
    provider: TokenSource,
    cache: TokenCache,
}

impl Tokens {
    /// Tokens from `provider`.
    pub fn new(cloud: Cloud, provider: TokenSource) -> Arc<Tokens> {
        Arc::new(Tokens {
            cloud,
            provider,
            cache: TokenCache::default(),
        })
    }

    /// The current token, fetched again when it is close to expiring.
    pub async fn bearer(&self) -> Result<String, CloudError> {
        self.cache.current(self.provider.fetch(&self.cloud)).await
    }

    /// A new token after the API refused `refused`.
    pub async fn renew(&self, refused: &str) -> Result<String, CloudError> {
        self.cache
            .renew(refused, self.provider.fetch(&self.cloud))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_before_it_lapses() {
        let t = Token::new("t".into(), Duration::from_secs(900));
        assert!(t.fresh(t.fetched));
        assert!(t.fresh(t.fetched + Duration::from_secs(839)));
        assert!(!t.fresh(t.fetched + Duration::from_secs(841)));
        let short = Token::new("s".into(), Duration::from_secs(10));
        assert!(short.fresh(short.fetched + Duration::from_secs(7)));
        assert!(!short.fresh(short.fetched + Duration::from_millis(8100)));
    }
}
