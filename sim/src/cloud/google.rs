//! The Google stand-ins: STS token exchange (`sts.googleapis.com/v1/token`, workload identity
//! federation), IAM Credentials `generateAccessToken` (service-account impersonation) and the
//! OAuth 2.0 JWT grant (`oauth2.googleapis.com/token`, a service-account key). Owns Google's
//! request rules and error shapes; must not keep books (`state` does).

use super::http::{self, Arrived, param};
use super::jwt;
use super::state::{Cloud, GoogleKind, IdentityError};
use crate::server::Response;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    http::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// [`oauth_error`], boxed for a `Result`.
fn oauth_fault(status: u16, error: &str, description: &str) -> Box<Response> {
    Box::new(oauth_error(status, error, description))
}

/// `(project number, pool, provider)` of
/// `//iam.googleapis.com/projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<p>`.
fn provider_audience(audience: &str) -> Option<(&str, &str, &str)> {
    let rest = audience.strip_prefix("//iam.googleapis.com/projects/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [
            n,
            "locations",
            "global",
            "workloadIdentityPools",
            pool,
            "providers",
            p,
        ] if !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && !pool.is_empty()
            && !p.is_empty() =>
        {
            Some((n, pool, p))
        }
        _ => None,
    }
}

/// Google STS (`POST /v1/token`): a GitHub OIDC token for a federated access token.
pub fn sts(cloud: &Cloud, req: &Arrived) -> Response {
    if req.path != "/v1/token" || req.method != "POST" {
        return oauth_error(404, "not_found", "Not found");
    }
    let p = req.body_params();
    let get = |k: &str| param(&p, k).unwrap_or_default();
    if get("grant_type") != TOKEN_EXCHANGE {
        return oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid value for \"grant_type\": {:?}", get("grant_type")),
        );
    }
    if get("requested_token_type") != ACCESS_TOKEN_TYPE {
        return oauth_error(
            400,
            "invalid_request",
            "Invalid value for \"requested_token_type\".",
        );
    }
    if !SUBJECT_TYPES.contains(&get("subject_token_type")) {
        return oauth_error(
            400,
            "invalid_request",
            "Invalid value for \"subject_token_type\".",
        );
    }
    if !get("scope").split(' ').any(|s| s == CLOUD_PLATFORM) {
        return oauth_error(
            400,
            "invalid_scope",
            "The scope must include https://www.googleapis.com/auth/cloud-platform.",
        );
    }
    let audience = get("audience");
    let Some((_, pool, provider)) = provider_audience(audience) else {
        return oauth_error(
            400,
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.",
        );
    };
    let expected = format!("https:{audience}");
    match cloud.web_identity(get("subject_token"), &expected) {
        Ok(_) => {}
        Err(IdentityError::Unknown) => {
            return oauth_error(400, "invalid_grant", "Unable to parse the ID Token.");
        }
        Err(IdentityError::Expired) => {
            return oauth_error(400, "invalid_grant", "The ID Token has expired.");
        }
        Err(IdentityError::Audience(aud)) => {
            let m = format!(
                "The audience in ID Token [{aud}] does not match the expected audience {expected}."
            );
            return oauth_error(400, "invalid_grant", &m);
        }
    }
    if pool.contains("denied") || provider.contains("denied") {
        return oauth_error(
            403,
            "unauthorized_client",
            "The given credential is rejected by the attribute condition.",
        );
    }
    let ttl = cloud.lifetime(None);
    let (token, _) = cloud.issue_google(GoogleKind::Federated, ttl);
    http::json(
        200,
        &json!({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer", "expires_in": ttl.as_secs()}),
    )
}

fn api_error(code: u16, status: &str, message: &str) -> Response {
    http::json(
        code,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// `"3600s"` as a duration of at most an hour.
fn lifetime(value: &Value) -> Result<Option<Duration>, String> {
    let Some(text) = value.as_str() else {
        return match value.is_null() {
            true => Ok(None),
            false => Err("lifetime must be a string like \"3600s\"".into()),
        };
    };
    let secs = text
        .strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| format!("Invalid value at 'lifetime' ({text})"))?;
    match (1.0..=3600.0).contains(&secs) {
        true => Ok(Some(Duration::from_secs(secs as u64))),
        false => Err("The lifetime must be between 1s and 3600s.".into()),
    }
}

/// IAM Credentials (`POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken`): a
/// service account's access token for a Google access token this stand-in family issued.
pub fn iam(cloud: &Cloud, req: &Arrived) -> Response {
    let email = req
        .path
        .strip_prefix("/v1/projects/")
        .and_then(|r| r.split_once("/serviceAccounts/"))
        .filter(|(project, _)| !project.is_empty())
        .and_then(|(_, r)| r.strip_suffix(":generateAccessToken"))
        .map(http::percent_decode);
    let Some(email) = email.filter(|_| req.method == "POST") else {
        return api_error(404, "NOT_FOUND", "Requested entity was not found.");
    };
    if !req.bearer().is_some_and(|t| cloud.google_valid(t)) {
        return api_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let scopes_ok = body["scope"]
        .as_array()
        .is_some_and(|s| !s.is_empty() && s.iter().all(Value::is_string));
    if !scopes_ok {
        return api_error(400, "INVALID_ARGUMENT", "Scope required.");
    }
    let requested = match lifetime(&body["lifetime"]) {
        Ok(l) => l,
        Err(m) => return api_error(400, "INVALID_ARGUMENT", &m),
    };
    if !email.contains('@') || cloud.config.denied_service_accounts.contains(&email) {
        return api_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        );
    }
    let (token, expires) = cloud.issue_google(GoogleKind::Impersonated, cloud.lifetime(requested));
    http::json(
        200,
        &json!({"accessToken": token, "expireTime": http::rfc3339(expires)}),
    )
}

/// Checks a JWT grant's assertion: RS256 by the configured key, for the configured service
/// account, to this token URL, with a scope, short-lived and current.
fn assertion_claims(cloud: &Cloud, assertion: &str) -> Result<Value, Box<Response>> {
    let bad_signature = || oauth_fault(400, "invalid_grant", "Invalid JWT Signature.");
    let key = cloud
        .config
        .google_sa_key_pem
        .as_deref()
        .and_then(|pem| jwt::rsa_public_key(pem).ok())
        .ok_or_else(bad_signature)?;
    let claims = jwt::verify_rs256(assertion, &key).ok_or_else(bad_signature)?;
    if claims["iss"] != cloud.config.google_sa_email.as_str() {
        return Err(oauth_fault(
            400,
            "invalid_grant",
            "Invalid email or User ID",
        ));
    }
    if claims["aud"] != cloud.google_token_url.as_str() {
        return Err(oauth_fault(
            400,
            "invalid_grant",
            "Invalid JWT: Failed audience check.",
        ));
    }
    if claims["scope"].as_str().is_none_or(|s| s.trim().is_empty()) {
        return Err(oauth_fault(
            400,
            "invalid_scope",
            "Empty or missing scope not allowed.",
        ));
    }
    let now = http::unix(SystemTime::now());
    let timely = match (claims["iat"].as_u64(), claims["exp"].as_u64()) {
        (Some(iat), Some(exp)) => iat < exp && exp - iat <= 3600 && iat <= now + 300 && now < exp,
        _ => false,
    };
    if !timely {
        return Err(oauth_fault(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    Ok(claims)
}

/// The OAuth 2.0 token endpoint (`POST /token`): the JWT grant of a service-account key.
pub fn oauth(cloud: &Cloud, req: &Arrived) -> Response {
    if req.path != "/token" || req.method != "POST" {
        return oauth_error(404, "not_found", "Not found");
    }
    let p = req.body_params();
    let grant = param(&p, "grant_type").unwrap_or_default();
    if grant != JWT_BEARER {
        return oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant}"),
        );
    }
    let Some(assertion) = param(&p, "assertion").filter(|a| !a.is_empty()) else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    if let Err(resp) = assertion_claims(cloud, assertion) {
        return *resp;
    }
    let ttl = cloud.lifetime(None);
    let (token, _) = cloud.issue_google(GoogleKind::JwtGrant, ttl);
    http::json(
        200,
        &json!({"access_token": token, "expires_in": ttl.as_secs(), "token_type": "Bearer"}),
    )
}
