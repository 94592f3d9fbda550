//! The GitHub Actions OIDC stand-in: the runtime's `ACTIONS_ID_TOKEN_REQUEST_URL`
//! (`GET /token?api-version=2.0&audience=<aud>` with `ACTIONS_ID_TOKEN_REQUEST_TOKEN` as the
//! bearer) answering `{"value": "<jwt>"}`. Owns that endpoint; must not decide what other
//! stand-ins accept.

use super::http::{self, Arrived, param};
use super::state::Cloud;
use crate::server::Response;
use serde_json::json;

/// The audience GitHub uses when the request names none: the repository owner's URL.
const DEFAULT_AUDIENCE: &str = "https://github.com/canary-gate";

/// The token endpoint.
pub fn token(cloud: &Cloud, req: &Arrived) -> Response {
    if req.path != "/token" || req.method != "GET" {
        return http::json(404, &json!({"message": "Not Found"}));
    }
    if req.bearer() != Some(cloud.config.oidc_request_token.as_str()) {
        return http::json(401, &json!({"message": "Bad credentials"}));
    }
    let params = req.query_params();
    let audience = param(&params, "audience")
        .filter(|a| !a.is_empty())
        .unwrap_or(DEFAULT_AUDIENCE);
    http::json(200, &json!({"value": cloud.issue_oidc(audience)}))
}
