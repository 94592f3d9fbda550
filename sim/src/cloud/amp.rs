//! The Amazon Managed Prometheus stand-in: `GET`/`POST /workspaces/<ws>/api/v1/query`,
//! SigV4-signed for `aps` in the configured region, passed to a real Prometheus. Must not verify
//! signatures or judge the query.

use super::aws::{Refusal, rest_error, rest_refusal, signed_request};
use super::http::{self, Arrived};
use super::state::Cloud;
use crate::server::Response;
use std::time::Duration;

/// The AMP stand-in: `GET`/`POST /workspaces/<ws>/api/v1/query`, SigV4-signed for `aps` in the
/// configured region, passed to Prometheus' `/api/v1/query` with its answer returned as is.
pub async fn serve(cloud: &Cloud, req: &Arrived) -> Response {
    let is_query = req
        .path
        .strip_prefix("/workspaces/")
        .and_then(|r| r.split_once('/'))
        .is_some_and(|(ws, rest)| !ws.is_empty() && rest == "api/v1/query");
    if !is_query || !matches!(req.method.as_str(), "GET" | "POST") {
        return rest_error(404, "ResourceNotFoundException", "Not found");
    }
    if let Err(r) = signed_request(cloud, req, "aps", Some(&cloud.config.amp_region)) {
        return match r {
            Refusal::Mismatch => rest_error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            ),
            other => rest_refusal(other),
        };
    }
    match forward(cloud, req).await {
        Ok(resp) => {
            cloud.count(|c| c.amp_forwarded += 1);
            resp
        }
        Err(e) => rest_error(503, "ServiceUnavailableException", &e),
    }
}

async fn forward(cloud: &Cloud, req: &Arrived) -> Result<Response, String> {
    let (Some(base), Some(client)) = (&cloud.config.prometheus_upstream, &cloud.upstream) else {
        return Err("the AMP stand-in has no Prometheus behind it".into());
    };
    let mut url = format!("{}/api/v1/query", base.trim_end_matches('/'));
    if !req.query.is_empty() {
        url = format!("{url}?{}", req.query);
    }
    let mut out = match req.method.as_str() {
        "POST" => client.post(&url).body(req.body.clone()),
        _ => client.get(&url),
    };
    if let Some(ct) = req.header("content-type") {
        out = out.header(reqwest::header::CONTENT_TYPE, ct);
    }
    let resp = out
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("Prometheus did not answer: {e}"))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading Prometheus' answer: {e}"))?;
    Ok(http::raw(status, body, &content_type))
}
