//! AWS Signature Version 4 over AWS's own signer (the `aws-sigv4` crate): a request signed in its
//! headers (STS AssumeRole, EKS DescribeCluster, Amazon Managed Service for Prometheus queries) or
//! presigned in its query (the EKS token). The algorithm is AWS's
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html>); this file only maps
//! canary-gate's requests onto the crate. Must not send anything.

use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode,
};
use std::time::{Duration, SystemTime};

/// Credentials to sign with.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials expire.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What to sign.
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The whole URL.
    pub url: &'a str,
    /// Headers to send and sign (`host` is taken from the URL when absent).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// How to sign.
pub struct Signing<'a> {
    /// Region of the credential scope.
    pub region: &'a str,
    /// Service of the credential scope (`sts`, `eks`, `aps`).
    pub service: &'a str,
    /// The signing time.
    pub time: SystemTime,
    /// Presign for this long (the signature goes in the query), or sign the headers.
    pub presign: Option<Duration>,
    /// Normalise the path (every service but S3).
    pub normalize_path: bool,
    /// Send and sign `x-amz-content-sha256`.
    pub content_sha256: bool,
    /// Sign `X-Amz-Security-Token` too (every service but a few; AWS's default).
    pub sign_session_token: bool,
}

impl<'a> Signing<'a> {
    /// AWS's defaults for `service` in `region`, now.
    pub fn new(region: &'a str, service: &'a str) -> Signing<'a> {
        Signing {
            region,
            service,
            time: SystemTime::now(),
            presign: None,
            normalize_path: true,
            content_sha256: false,
            sign_session_token: true,
        }
    }
}

/// A signed request.
#[derive(Debug)]
pub struct Signed {
    /// The signature (hex).
    pub signature: String,
    /// The URL to send (with the signature in the query when presigned).
    pub url: String,
    /// Headers to add (`authorization`, `x-amz-date`, `x-amz-security-token`, …).
    pub headers: Vec<(String, String)>,
}

/// Signs `req` with `creds`.
pub fn sign(creds: &Credentials, req: &Request<'_>, how: &Signing<'_>) -> Result<Signed, String> {
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        creds.expires,
        "canary-gate",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(how.region)
        .name(how.service)
        .time(how.time)
        .settings(settings(how))
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url,
        req.headers.iter().copied(),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut out = http::Request::builder()
        .method(req.method)
        .uri(req.url)
        .body(())
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut out);
    let headers = out
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    Ok(Signed {
        signature,
        url: out.uri().to_string(),
        headers,
    })
}

fn settings(how: &Signing<'_>) -> SigningSettings {
    let mut s = SigningSettings::default();
    if let Some(expires) = how.presign {
        s.signature_location = SignatureLocation::QueryParams;
        s.expires_in = Some(expires);
    }
    s.uri_path_normalization_mode = if how.normalize_path {
        UriPathNormalizationMode::Enabled
    } else {
        UriPathNormalizationMode::Disabled
    };
    s.payload_checksum_kind = if how.content_sha256 {
        PayloadChecksumKind::XAmzSha256
    } else {
        PayloadChecksumKind::NoHeader
    };
    s.session_token_mode = if how.sign_session_token {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    s
}
