//! Google: an OAuth access token (scope `cloud-platform`, what `gke-gcloud-auth-plugin` asks
//! for) from
//! - the `gcp-workload-identity-provider` input: the job's OIDC token (audience
//!   `https://iam.googleapis.com/<provider>`, google-github-actions/auth's default) exchanged at
//!   Google's STS, then the `gcp-service-account` impersonated when given;
//! - `GOOGLE_APPLICATION_CREDENTIALS`: an `external_account` file (what google-github-actions/auth
//!   writes: STS token exchange with the subject token its `credential_source` names, then
//!   `service_account_impersonation_url` when set; <https://google.aip.dev/auth/4117>) or a
//!   `service_account` key (an RS256-signed JWT grant at its `token_uri`;
//!   <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>).
//!
//! STS is <https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token>, impersonation
//! <https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken>;
//! without a credential file their hosts follow gcloud's `CLOUDSDK_API_ENDPOINT_OVERRIDES_STS`
//! and `CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS`. Must not touch the cluster.

use super::http::{endpoint, short};
use super::{Cloud, CloudError, Token, oidc};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The scope GKE and Google Cloud Managed Service for Prometheus accept.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Where Google credentials come from.
#[derive(Debug, Clone)]
pub enum Google {
    /// The job's OIDC token through a workload identity provider.
    Federated {
        /// `projects/N/locations/global/workloadIdentityPools/P/providers/X`.
        provider: String,
        /// A service account to impersonate.
        service_account: Option<String>,
    },
    /// A credential file.
    File(String),
}

impl Google {
    /// From the inputs, else `GOOGLE_APPLICATION_CREDENTIALS`; `what` names the provider.
    pub fn from_env(cloud: &Cloud, what: &str) -> Result<Google, CloudError> {
        if let Some(provider) = &cloud.settings.gcp_workload_identity_provider {
            return Ok(Google::Federated {
                provider: provider
                    .trim_start_matches("//iam.googleapis.com/")
                    .to_string(),
                service_account: cloud.settings.gcp_service_account.clone(),
            });
        }
        match cloud.env.get("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(path) => Ok(Google::File(path.to_string())),
            None => Err(CloudError::Invalid(format!(
                "{what}: no Google credentials: run google-github-actions/auth first (it sets GOOGLE_APPLICATION_CREDENTIALS), or set the gcp-workload-identity-provider input with `permissions: id-token: write`"
            ))),
        }
    }

    /// A new access token.
    pub async fn token(&self, cloud: &Cloud, what: &str) -> Result<Token, CloudError> {
        match self {
            Google::Federated {
                provider,
                service_account,
            } => {
                let subject = oidc::token(
                    cloud,
                    what,
                    &format!("https://iam.googleapis.com/{provider}"),
                )
                .await?;
                let sts = gcloud_endpoint(
                    cloud,
                    what,
                    "STS",
                    "https://sts.googleapis.com/",
                    "v1/token",
                )?;
                let exchange = Exchange {
                    token_url: sts,
                    audience: format!("//iam.googleapis.com/{provider}"),
                    subject_token_type: "urn:ietf:params:oauth:token-type:jwt".into(),
                };
                let federated = exchange.run(cloud, what, &subject).await?;
                match service_account {
                    None => Ok(federated),
                    Some(email) => {
                        let path =
                            format!("v1/projects/-/serviceAccounts/{email}:generateAccessToken");
                        let url = gcloud_endpoint(
                            cloud,
                            what,
                            "IAMCREDENTIALS",
                            "https://iamcredentials.googleapis.com/",
                            &path,
                        )?;
                        impersonate(cloud, what, &url, email, &federated.value).await
                    }
                }
            }
            Google::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CloudError::Invalid(format!(
                        "{what}: GOOGLE_APPLICATION_CREDENTIALS {path}: {e}"
                    ))
                })?;
                let file: Value = serde_json::from_str(&text).map_err(|e| {
                    CloudError::Invalid(format!(
                        "{what}: GOOGLE_APPLICATION_CREDENTIALS {path}: not JSON: {e}"
                    ))
                })?;
                from_file(cloud, what, path, &file).await
            }
        }
    }
}

/// The base URL gcloud would use for an API, with `path` joined.
fn gcloud_endpoint(
    cloud: &Cloud,
    what: &str,
    api: &str,
    default: &str,
    path: &str,
) -> Result<url::Url, CloudError> {
    let var = format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}");
    let (from, base) = match cloud.env.get(&var) {
        Some(v) => (var.as_str(), v),
        None => ("the default endpoint", default),
    };
    let base = endpoint(what, from, base)?;
    let base = if base.path().ends_with('/') {
        base
    } else {
        endpoint(what, from, &format!("{base}/"))?
    };
    base.join(path)
        .map_err(|e| CloudError::Invalid(format!("{what}: {from}: {e}")))
}

async fn from_file(
    cloud: &Cloud,
    what: &str,
    path: &str,
    file: &Value,
) -> Result<Token, CloudError> {
    match file["type"].as_str() {
        Some("service_account") => jwt_grant(cloud, what, path, file).await,
        Some("external_account") => external(cloud, what, path, file).await,
        other => Err(CloudError::Invalid(format!(
            "{what}: GOOGLE_APPLICATION_CREDENTIALS {path}: credentials of type {} are not supported (external_account and service_account are)",
            other.unwrap_or("(none)")
        ))),
    }
}

/// A string field of a credential file, or malformed input naming it.
fn field<'a>(file: &'a Value, what: &str, path: &str, name: &str) -> Result<&'a str, CloudError> {
    file.pointer(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            CloudError::Invalid(format!(
                "{what}: GOOGLE_APPLICATION_CREDENTIALS {path}: {name} is missing"
            ))
        })
}

/// An `external_account` file: subject token, STS exchange, impersonation.
async fn external(
    cloud: &Cloud,
    what: &str,
    path: &str,
    file: &Value,
) -> Result<Token, CloudError> {
    let token_url = file["token_url"]
        .as_str()
        .unwrap_or("https://sts.googleapis.com/v1/token");
    let exchange = Exchange {
        token_url: endpoint(what, "token_url", token_url)?,
        audience: field(file, what, path, "/audience")?.to_string(),
        subject_token_type: field(file, what, path, "/subject_token_type")?.to_string(),
    };
    let subject = subject_token(cloud, what, path, &file["credential_source"]).await?;
    let federated = exchange.run(cloud, what, &subject).await?;
    match file["service_account_impersonation_url"].as_str() {
        None => Ok(federated),
        Some(raw) => {
            let url = endpoint(what, "service_account_impersonation_url", raw)?;
            let email = raw
                .rsplit('/')
                .next()
                .unwrap_or(raw)
                .trim_end_matches(":generateAccessToken")
                .to_string();
            impersonate(cloud, what, &url, &email, &federated.value).await
        }
    }
}

/// The subject token a `credential_source` names: a file, or a URL (with headers), as text or a
/// JSON field.
async fn subject_token(
    cloud: &Cloud,
    what: &str,
    path: &str,
    source: &Value,
) -> Result<String, CloudError> {
    let raw = if let Some(file) = source["file"].as_str() {
        std::fs::read_to_string(file).map_err(|e| {
            CloudError::Invalid(format!("{what}: credential_source file {file}: {e}"))
        })?
    } else if let Some(url) = source["url"].as_str() {
        let url = endpoint(what, "credential_source url", url)?;
        let mut req = cloud.client().get(url);
        for (k, v) in source["headers"].as_object().into_iter().flatten() {
            if let Some(v) = v.as_str() {
                cloud.mask(
                    v.trim_start_matches("Bearer ")
                        .trim_start_matches("bearer "),
                );
                req = req.header(k, v);
            }
        }
        let step = format!("{what}: subject token");
        let reply = cloud.send(&step, req).await?;
        if !reply.ok() {
            return Err(CloudError::Refused(format!(
                "{step}: the credential source answered {}: {}",
                reply.status,
                short(&reply.body)
            )));
        }
        reply.body
    } else {
        return Err(CloudError::Invalid(format!(
            "{what}: GOOGLE_APPLICATION_CREDENTIALS {path}: credential_source has neither file nor url (executable and AWS sources are not supported)"
        )));
    };
    let token = match source["format"]["type"].as_str() {
        Some("json") => {
            let name = source["format"]["subject_token_field_name"]
                .as_str()
                .unwrap_or("value");
            let v: Value = serde_json::from_str(&raw).unwrap_or_default();
            v[name].as_str().map(str::to_string).ok_or_else(|| {
                CloudError::Refused(format!("{what}: the subject token's JSON has no {name:?}"))
            })?
        }
        _ => raw.trim().to_string(),
    };
    cloud.mask(&token);
    Ok(token)
}

/// An RFC 8693 token exchange at Google's STS.
struct Exchange {
    token_url: url::Url,
    audience: String,
    subject_token_type: String,
}

impl Exchange {
    async fn run(&self, cloud: &Cloud, what: &str, subject: &str) -> Result<Token, CloudError> {
        let form = [
            ("grant_type", TOKEN_EXCHANGE),
            ("audience", &self.audience),
            ("scope", CLOUD_PLATFORM),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", subject),
            ("subject_token_type", &self.subject_token_type),
        ];
        let step = format!("{what}: STS token exchange");
        let reply = cloud
            .send(&step, cloud.post_form(self.token_url.clone(), &form))
            .await?;
        if !reply.ok() {
            let subject = format!("audience {}", self.audience);
            return Err(reply.refused(&step, &subject, "/error", "/error_description"));
        }
        reply.access_token(cloud, &step)
    }
}

/// `generateAccessToken` for `email` with the bearer `federated`.
async fn impersonate(
    cloud: &Cloud,
    what: &str,
    url: &url::Url,
    email: &str,
    federated: &str,
) -> Result<Token, CloudError> {
    let req = cloud
        .client()
        .post(url.clone())
        .bearer_auth(federated)
        .json(&json!({"scope": [CLOUD_PLATFORM], "lifetime": "3600s"}));
    let step = format!("{what}: generateAccessToken");
    let reply = cloud.send(&step, req).await?;
    if !reply.ok() {
        let subject = format!("service account {email}");
        return Err(reply.refused(&step, &subject, "/error/status", "/error/message"));
    }
    let body = reply.json();
    let value = body["accessToken"]
        .as_str()
        .ok_or_else(|| CloudError::Refused(format!("{step}: the answer has no accessToken")))?;
    cloud.mask(value);
    let expires = body["expireTime"]
        .as_str()
        .and_then(|t| {
            aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime)
                .ok()
        })
        .and_then(|d| SystemTime::try_from(d).ok())
        .and_then(|t| t.duration_since(SystemTime::now()).ok())
        .unwrap_or(Duration::from_secs(3600));
    Ok(Token::new(value.to_string(), expires))
}

/// A `service_account` key: a JWT signed with its private key, granted at its `token_uri`.
async fn jwt_grant(
    cloud: &Cloud,
    what: &str,
    path: &str,
    file: &Value,
) -> Result<Token, CloudError> {
    let email = field(file, what, path, "/client_email")?;
    let token_uri = file["token_uri"]
        .as_str()
        .unwrap_or("https://oauth2.googleapis.com/token");
    let url = endpoint(what, "token_uri", token_uri)?;
    let key = field(file, what, path, "/private_key")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": file["private_key_id"]});
    let claims = json!({"iss": email, "scope": CLOUD_PLATFORM, "aud": token_uri, "iat": now, "exp": now + 3600});
    let assertion = sign_jwt(key, &header, &claims).map_err(|e| {
        CloudError::Invalid(format!(
            "{what}: GOOGLE_APPLICATION_CREDENTIALS {path}: private_key: {e}"
        ))
    })?;
    cloud.mask(&assertion);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.as_str()),
    ];
    let step = format!("{what}: JWT grant");
    let reply = cloud.send(&step, cloud.post_form(url, &form)).await?;
    if !reply.ok() {
        return Err(reply.refused(&step, email, "/error", "/error_description"));
    }
    reply.access_token(cloud, &step)
}

/// `header.claims.signature`, RS256 with a PKCS#8 PEM key (ring).
pub fn sign_jwt(pem: &str, header: &Value, claims: &Value) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "not a PEM key".to_string())?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| format!("not an RSA PKCS#8 key ({e})"))?;
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing failed".to_string())?;
    Ok(format!("{input}.{}", b64.encode(sig)))
}
