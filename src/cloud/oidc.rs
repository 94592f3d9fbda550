//! The job's own GitHub OIDC token, asked for with an audience. GitHub's runner gives a job with
//! `permissions: id-token: write` the variables `ACTIONS_ID_TOKEN_REQUEST_URL` and
//! `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; `GET <url>&audience=<aud>` with the second as a bearer
//! answers `{"value": "<JWT>"}`
//! (<https://docs.github.com/en/actions/reference/security/oidc>). Must not exchange the token.

use super::http::short;
use super::{Cloud, CloudError};

/// Whether the job can ask for an OIDC token.
pub fn available(cloud: &Cloud) -> bool {
    cloud.env.get("ACTIONS_ID_TOKEN_REQUEST_URL").is_some()
        && cloud.env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN").is_some()
}

/// The job's OIDC token for `audience`; `what` names the provider ("EKS token").
pub async fn token(cloud: &Cloud, what: &str, audience: &str) -> Result<String, CloudError> {
    let (Some(url), Some(bearer)) = (
        cloud.env.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
        cloud.env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Err(CloudError::Invalid(format!(
            "{what}: the job's OIDC token is not available (ACTIONS_ID_TOKEN_REQUEST_URL is unset): give the job `permissions: id-token: write`"
        )));
    };
    cloud.mask(bearer);
    let mut url = super::http::endpoint(what, "ACTIONS_ID_TOKEN_REQUEST_URL", url)?;
    url.query_pairs_mut().append_pair("audience", audience);
    let step = format!("{what}: GitHub OIDC token");
    let reply = cloud
        .send(&step, cloud.client().get(url).bearer_auth(bearer))
        .await?;
    if !reply.ok() {
        return Err(CloudError::Refused(format!(
            "{step}: the runner answered {}: {}",
            reply.status,
            short(&reply.body)
        )));
    }
    let value = reply.json()["value"].as_str().map(str::to_string);
    let value = value.ok_or_else(|| {
        CloudError::Refused(format!("{step}: the runner's answer has no \"value\""))
    })?;
    cloud.mask(&value);
    Ok(value)
}
