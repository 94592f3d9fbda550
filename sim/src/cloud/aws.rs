//! What the AWS stand-ins share: authenticating a SigV4-signed request against the keys STS
//! issued or the configured ones (with the time window each signing style allows), the EKS token
//! check aws-iam-authenticator makes, and the REST services' JSON error shapes. Must not verify
//! signatures itself (`sigv4` does) or keep books (`state` does).

use super::http::{self, Arrived, param};
use super::sigv4::{self, Claim, Location, SigError};
use super::state::{AwsKey, Cloud, KeyLookup};
use crate::server::Response;
use std::time::{Duration, SystemTime};

/// How far a header-signed request's time may be from the server's.
const SKEW: Duration = Duration::from_secs(15 * 60);
/// How far in the future an EKS token's time may be.
const EKS_FUTURE: Duration = Duration::from_secs(5 * 60);
/// AWS's message for a signature that does not match.
pub const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// The EKS token prefix.
pub const EKS_TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// Why a signed request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// Not signed.
    Missing,
    /// A signature that cannot be read.
    Malformed(String),
    /// The access key was never issued, or the session token is not its own.
    UnknownKey,
    /// Temporary credentials past their expiry.
    Expired,
    /// The signature does not match.
    Mismatch,
    /// Signed for another service or region, outside the time window, or missing a header
    /// the operation needs signed.
    Invalid(String),
}

impl From<SigError> for Refusal {
    fn from(e: SigError) -> Self {
        match e {
            SigError::Missing => Refusal::Missing,
            SigError::Malformed(m) => Refusal::Malformed(m),
            SigError::Mismatch => Refusal::Mismatch,
        }
    }
}

/// The key that signed `req` for `service` (and `region` when given), signature verified.
pub fn authenticate(
    cloud: &Cloud,
    req: &Arrived,
    service: &str,
    region: Option<&str>,
) -> Result<(AwsKey, Claim), Refusal> {
    let claim = sigv4::claim(req)?;
    if claim.service != service {
        return Err(Refusal::Invalid(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    if region.is_some_and(|r| r != claim.region) {
        return Err(Refusal::Invalid(
            "Credential should be scoped to a valid region.".into(),
        ));
    }
    let key = match cloud.aws_key(&claim.access_key) {
        KeyLookup::Found(k) => k,
        KeyLookup::Expired => return Err(Refusal::Expired),
        KeyLookup::Unknown => return Err(Refusal::UnknownKey),
    };
    if key.session_token != claim.security_token {
        return Err(Refusal::UnknownKey);
    }
    sigv4::verify(req, &claim, &key.secret)?;
    Ok((key, claim))
}

/// A header-signed request must be within 15 minutes of now; a presigned one within its
/// `X-Amz-Expires`.
fn fresh(claim: &Claim) -> Result<(), Refusal> {
    let now = SystemTime::now();
    let skew = match now.duration_since(claim.time) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    let ok = match claim.location {
        Location::Header => skew <= SKEW,
        Location::Query => {
            let expires = Duration::from_secs(claim.expires.unwrap_or(0));
            now <= claim.time + expires && claim.time <= now + SKEW
        }
    };
    match ok {
        true => Ok(()),
        false => Err(Refusal::Invalid(format!(
            "Signature expired: {} is now earlier than {}",
            http::rfc3339(claim.time),
            http::rfc3339(now)
        ))),
    }
}

/// Authenticates a signed request that must be fresh.
pub fn signed_request(
    cloud: &Cloud,
    req: &Arrived,
    service: &str,
    region: Option<&str>,
) -> Result<AwsKey, Refusal> {
    let (key, claim) = authenticate(cloud, req, service, region)?;
    fresh(&claim)?;
    Ok(key)
}

/// A presigned `GetCallerIdentity` as aws-iam-authenticator sends it: `x-k8s-aws-id` signed,
/// issued no longer ago than the configured maximum and not in the future.
pub fn presigned_caller(cloud: &Cloud, req: &Arrived) -> Result<AwsKey, Refusal> {
    let query = req.query_params();
    if param(&query, "Action") != Some("GetCallerIdentity") {
        return Err(Refusal::Invalid("not a GetCallerIdentity URL".into()));
    }
    let (key, claim) = authenticate(cloud, req, "sts", None)?;
    if claim.location != Location::Query {
        return Err(Refusal::Invalid("not a presigned URL".into()));
    }
    if !claim.signed_headers.iter().any(|h| h == "x-k8s-aws-id") {
        return Err(Refusal::Invalid("x-k8s-aws-id is not signed".into()));
    }
    let now = SystemTime::now();
    if now > claim.time + cloud.config.eks_token_max_age || claim.time > now + EKS_FUTURE {
        return Err(Refusal::Invalid(format!(
            "Signature expired: issued {}, now {}",
            http::rfc3339(claim.time),
            http::rfc3339(now)
        )));
    }
    Ok(key)
}

/// The identity an EKS bearer token proves, checked as the cluster's authenticator does:
/// `k8s-aws-v1.` + base64url of a presigned STS `GetCallerIdentity` URL on this STS stand-in,
/// signed with `x-k8s-aws-id: <eks_cluster>`.
pub fn eks_token(cloud: &Cloud, token: &str) -> Result<AwsKey, String> {
    use base64::Engine;
    let encoded = token
        .strip_prefix(EKS_TOKEN_PREFIX)
        .ok_or("not an EKS token")?;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the token is not base64url")?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("the token's URL is not http(s)")?;
    let (host, path_query) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if host != cloud.sts_host {
        return Err(format!("the token names STS at {host:?}"));
    }
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    if path != "/" && !path.is_empty() {
        return Err(format!("the token's URL path is {path:?}"));
    }
    let req = Arrived {
        method: "GET".into(),
        path: "/".into(),
        query: query.into(),
        headers: vec![
            ("host".into(), host.into()),
            ("x-k8s-aws-id".into(), cloud.config.eks_cluster.clone()),
        ],
        body: bytes::Bytes::new(),
    };
    presigned_caller(cloud, &req).map_err(|r| format!("{r:?}"))
}

/// A REST/JSON service's error: `{"message": …}` and `x-amzn-ErrorType`.
pub fn rest_error(status: u16, kind: &str, message: &str) -> Response {
    let mut resp = http::json(status, &serde_json::json!({ "message": message }));
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

/// A refused signature in a REST/JSON service's shape.
pub fn rest_refusal(r: Refusal) -> Response {
    match r {
        Refusal::Missing => rest_error(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        Refusal::UnknownKey => rest_error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        Refusal::Expired => rest_error(
            403,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        Refusal::Malformed(m) | Refusal::Invalid(m) => {
            rest_error(403, "InvalidSignatureException", &m)
        }
        Refusal::Mismatch => rest_error(403, "InvalidSignatureException", MISMATCH),
    }
}
