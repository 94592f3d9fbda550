//! AWS: credentials in the order the AWS SDKs look for them, then what EKS and Amazon Managed
//! Service for Prometheus take. Credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (/`AWS_SESSION_TOKEN`, what aws-actions/configure-aws-credentials exports), else
//! `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, else the job's GitHub OIDC token for the
//! `aws-role-arn` input (audience `sts.amazonaws.com`); a role named by the kubeconfig
//! (`--role-arn`) is then assumed with them
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html>). Endpoints
//! honour `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL`
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html>). Must not touch
//! the cluster.

pub mod eks;
pub mod sigv4;
pub mod sts;

pub use eks::Eks;
use sigv4::Credentials;

use super::{Cloud, CloudError, oidc};
use std::time::{Duration, SystemTime};

/// The region to sign for: the kubeconfig's, the `aws-region` input, `AWS_REGION`,
/// `AWS_DEFAULT_REGION`.
pub fn region(cloud: &Cloud, given: Option<&str>) -> Option<String> {
    given
        .or(cloud.settings.aws_region.as_deref())
        .or(cloud.env.first(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
        .map(str::to_string)
}

/// A service's endpoint: `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, or the regional
/// default (`https://<service>.<region>.amazonaws.com`, `.com.cn` in China).
pub fn endpoint(
    cloud: &Cloud,
    what: &str,
    service: &str,
    region: &str,
) -> Result<url::Url, CloudError> {
    let specific = format!("AWS_ENDPOINT_URL_{}", service.to_uppercase());
    for var in [specific.as_str(), "AWS_ENDPOINT_URL"] {
        if let Some(v) = cloud.env.get(var) {
            return super::http::endpoint(what, var, v);
        }
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    super::http::endpoint(
        what,
        "the region",
        &format!("https://{service}.{region}.{suffix}/"),
    )
}

/// STS's endpoint and signing region: regional when a region is known, else the global
/// endpoint, signed for `us-east-1`.
pub fn sts(
    cloud: &Cloud,
    what: &str,
    region: Option<&str>,
) -> Result<(url::Url, String), CloudError> {
    let overridden = cloud
        .env
        .first(&["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]);
    match (region, overridden) {
        (None, None) => Ok((
            super::http::endpoint(what, "the global endpoint", "https://sts.amazonaws.com/")?,
            "us-east-1".into(),
        )),
        (region, _) => {
            let region = region.unwrap_or("us-east-1");
            Ok((endpoint(cloud, what, "sts", region)?, region.to_string()))
        }
    }
}

/// Credentials, cached until five minutes before they expire.
#[derive(Default)]
pub struct Aws {
    /// A role to assume with the credentials found (the kubeconfig's `--role-arn`).
    pub role_arn: Option<String>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl Aws {
    /// Credentials that assume `role_arn` when given.
    pub fn new(role_arn: Option<String>) -> Aws {
        Aws {
            role_arn,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Credentials for a call in `region`; `what` names the provider in messages.
    pub async fn get(
        &self,
        cloud: &Cloud,
        what: &str,
        region: Option<&str>,
    ) -> Result<Credentials, CloudError> {
        let mut cached = self.cached.lock().await;
        let soon = SystemTime::now() + Duration::from_secs(300);
        if let Some(c) = cached
            .as_ref()
            .filter(|c| c.expires.is_none_or(|e| e > soon))
        {
            return Ok(c.clone());
        }
        let (sts, sts_region) = sts(cloud, what, region)?;
        let mut creds = base(cloud, what, &sts, &sts_region).await?;
        if let Some(role) = &self.role_arn {
            let call = sts::Call {
                what,
                endpoint: &sts,
                region: &sts_region,
                role_arn: role,
                session: &session_name(cloud),
            };
            creds = sts::assume_role(cloud, &call, &creds).await?;
        }
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

/// The credentials the environment gives, in the SDKs' order.
async fn base(
    cloud: &Cloud,
    what: &str,
    sts: &url::Url,
    region: &str,
) -> Result<Credentials, CloudError> {
    let env = &cloud.env;
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        cloud.mask(secret);
        let session_token = env.get("AWS_SESSION_TOKEN").map(str::to_string);
        if let Some(t) = &session_token {
            cloud.mask(t);
        }
        return Ok(Credentials {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
            session_token,
            expires: None,
        });
    }
    let (role, web_identity) = if let (Some(file), Some(role)) = (
        env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
        env.get("AWS_ROLE_ARN"),
    ) {
        let token = std::fs::read_to_string(file).map_err(|e| {
            CloudError::Invalid(format!("{what}: AWS_WEB_IDENTITY_TOKEN_FILE {file}: {e}"))
        })?;
        cloud.mask(token.trim());
        (role, token.trim().to_string())
    } else if let Some(role) = cloud.settings.aws_role_arn.as_deref() {
        (role, oidc::token(cloud, what, "sts.amazonaws.com").await?)
    } else {
        return Err(no_credentials(what));
    };
    let call = sts::Call {
        what,
        endpoint: sts,
        region,
        role_arn: role,
        session: &session_name(cloud),
    };
    sts::with_web_identity(cloud, &call, &web_identity).await
}

fn no_credentials(what: &str) -> CloudError {
    CloudError::Invalid(format!(
        "{what}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (aws-actions/configure-aws-credentials exports them), AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or the aws-role-arn input with `permissions: id-token: write`"
    ))
}

/// `AWS_ROLE_SESSION_NAME`, else `canary-gate-<run id>` (STS allows `[\w+=,.@-]{2,64}`).
fn session_name(cloud: &Cloud) -> String {
    if let Some(name) = cloud.env.get("AWS_ROLE_SESSION_NAME") {
        return name.to_string();
    }
    match cloud.env.get("GITHUB_RUN_ID") {
        Some(run) => format!("canary-gate-{run}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
            .take(64)
            .collect(),
        None => "canary-gate".into(),
    }
}

/// Signs a query to Amazon Managed Service for Prometheus (service `aps`) in its headers.
pub async fn sign_aps(
    cloud: &Cloud,
    aws: &Aws,
    region: &str,
    method: &str,
    url: &str,
) -> Result<Vec<(String, String)>, CloudError> {
    let what = "Amazon Managed Service for Prometheus query";
    let creds = aws.get(cloud, what, Some(region)).await?;
    let req = sigv4::Request {
        method,
        url,
        headers: &[],
        body: b"",
    };
    let signed = sigv4::sign(&creds, &req, &sigv4::Signing::new(region, "aps"))
        .map_err(|e| CloudError::Invalid(format!("{what}: signing {url}: {e}")))?;
    Ok(signed.headers)
}
