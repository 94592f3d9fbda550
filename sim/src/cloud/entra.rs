//! The Microsoft Entra ID stand-in (`POST /<tenant>/oauth2/v2.0/token`): the client-credentials
//! grant with a federated client assertion (a GitHub OIDC token) or a configured client secret.
//! Owns Entra's request rules and its `AADSTS` error shapes; must not keep books (`state` does).

use super::http::{self, Arrived, param};
use super::jwt;
use super::state::{Cloud, IdentityError};
use crate::server::Response;
use serde_json::json;
use std::time::SystemTime;

/// The audience GitHub OIDC tokens for Entra carry.
pub const ENTRA_AUDIENCE: &str = "api://AzureADTokenExchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn entra_error(status: u16, error: &str, code: u32, message: &str) -> Response {
    let (trace, correlation) = (http::random_id(), http::random_id());
    let now = SystemTime::now();
    http::json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}", http::rfc3339(now)),
            "error_codes": [code],
            "timestamp": http::rfc3339(now),
            "trace_id": trace,
            "correlation_id": correlation,
        }),
    )
}

/// [`entra_error`], boxed for a `Result`.
fn entra_fault(status: u16, error: &str, code: u32, message: &str) -> Box<Response> {
    Box::new(entra_error(status, error, code, message))
}

/// The token endpoint.
pub fn token(cloud: &Cloud, req: &Arrived) -> Response {
    let tenant = req
        .path
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix("/oauth2/v2.0/token"))
        .filter(|t| !t.is_empty() && !t.contains('/'));
    let Some(tenant) = tenant.filter(|_| req.method == "POST") else {
        return entra_error(404, "invalid_request", 90002, "Tenant not found.");
    };
    let p = req.body_params();
    let get = |k: &str| param(&p, k).unwrap_or_default();
    if get("grant_type") != "client_credentials" {
        return entra_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = get("client_id");
    if client_id.is_empty() {
        return entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    let scope = get("scope");
    let Some(resource) = scope
        .strip_suffix("/.default")
        .filter(|r| !r.is_empty() && !r.contains(' '))
    else {
        let m = format!(
            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        );
        return entra_error(400, "invalid_scope", 1002012, &m);
    };
    if let Err(resp) = client_authentication(cloud, client_id, &p) {
        return *resp;
    }
    let ttl = cloud.lifetime(None);
    let now = http::unix(SystemTime::now());
    let access_token = jwt::mint(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "standin"}),
        &json!({"aud": resource, "iss": format!("https://sts.windows.net/{tenant}/"), "appid": client_id,
                "tid": tenant, "iat": now, "nbf": now, "exp": now + ttl.as_secs(), "uti": http::random_hex()}),
    );
    cloud.record_entra(&access_token, scope, ttl);
    http::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": ttl.as_secs(), "ext_expires_in": ttl.as_secs(),
                "access_token": access_token}),
    )
}

/// The client's proof: a federated assertion for `api://AzureADTokenExchange`, or its secret.
fn client_authentication(
    cloud: &Cloud,
    client_id: &str,
    p: &[(String, String)],
) -> Result<(), Box<Response>> {
    if let Some(secret) = param(p, "client_secret") {
        let known = cloud
            .config
            .entra_client_secrets
            .iter()
            .any(|(id, s)| id == client_id && s == secret);
        return match known {
            true => Ok(()),
            false => Err(entra_fault(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
            )),
        };
    }
    let Some(assertion) = param(p, "client_assertion") else {
        return Err(entra_fault(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if param(p, "client_assertion_type") != Some(JWT_BEARER) {
        return Err(entra_fault(
            400,
            "invalid_request",
            50027,
            "Invalid client_assertion_type.",
        ));
    }
    let subject = match cloud.web_identity(assertion, ENTRA_AUDIENCE) {
        Ok(s) => s,
        Err(IdentityError::Unknown) => {
            return Err(entra_fault(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            ));
        }
        Err(IdentityError::Expired) => {
            return Err(entra_fault(
                400,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        Err(IdentityError::Audience(aud)) => {
            let m = format!(
                "No matching federated identity record found for presented assertion audience '{aud}'."
            );
            return Err(entra_fault(401, "invalid_client", 700212, &m));
        }
    };
    if cloud.config.denied_clients.iter().any(|c| c == client_id) {
        let m = format!(
            "No matching federated identity record found for presented assertion subject '{subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
        );
        return Err(entra_fault(401, "invalid_client", 700213, &m));
    }
    Ok(())
}
