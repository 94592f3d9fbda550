//! SigV4 verification the way AWS services do it: read the signature a request claims (its
//! `Authorization` header, or the `X-Amz-*` query of a presigned URL), rebuild the request from
//! what arrived, sign it again through `aws-sigv4` with the caller's secret at the claimed time,
//! region and service, and compare in constant time. Owns "does this signature match"; must not
//! look keys up or judge freshness (each service does, with its own error shapes).

use super::http::{Arrived, parse_amz_date};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use std::time::{Duration, SystemTime};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The query parameters a presigning signer adds itself.
const PRESIGN_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// Where the signature travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// A presigned URL's `X-Amz-*` query parameters.
    Query,
}

/// What a request says about its signature.
#[derive(Clone, Debug)]
pub struct Claim {
    /// Header or query.
    pub location: Location,
    /// The access key id of the credential scope.
    pub access_key: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// The signed header names, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
    /// `X-Amz-Date`.
    pub time: SystemTime,
    /// `X-Amz-Expires` of a presigned URL.
    pub expires: Option<u64>,
    /// The session token sent (header or query).
    pub security_token: Option<String>,
}

/// Why a signature is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// No `Authorization` header and no `X-Amz-Signature`.
    #[error("the request is not signed")]
    Missing,
    /// The signature's parts cannot be read.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Signing again gives another signature.
    #[error("the signature does not match")]
    Mismatch,
}

fn malformed(what: impl Into<String>) -> SigError {
    SigError::Malformed(what.into())
}

/// Reads the claimed signature of a request.
pub fn claim(req: &Arrived) -> Result<Claim, SigError> {
    if let Some(auth) = req.header("authorization") {
        return from_header(req, auth);
    }
    let query = req.query_params();
    if query.iter().any(|(k, _)| k == "X-Amz-Signature") {
        return from_query(&query);
    }
    Err(SigError::Missing)
}

/// `<key>/<yyyymmdd>/<region>/<service>/aws4_request` and the date it must agree with.
fn scope(credential: &str, amz_date: &str) -> Result<(String, String, String), SigError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, "aws4_request"] = parts[..] else {
        return Err(malformed(format!("credential scope {credential:?}")));
    };
    if !amz_date.starts_with(date) || key.is_empty() || region.is_empty() || service.is_empty() {
        return Err(malformed(format!(
            "credential scope {credential:?} for date {amz_date}"
        )));
    }
    Ok((key.into(), region.into(), service.into()))
}

fn time(amz_date: Option<&str>) -> Result<(SystemTime, &str), SigError> {
    let amz_date = amz_date.ok_or_else(|| malformed("no X-Amz-Date"))?;
    let t =
        parse_amz_date(amz_date).ok_or_else(|| malformed(format!("X-Amz-Date {amz_date:?}")))?;
    Ok((t, amz_date))
}

fn from_header(req: &Arrived, auth: &str) -> Result<Claim, SigError> {
    let rest = auth
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| malformed("not AWS4-HMAC-SHA256"))?;
    let mut fields = std::collections::HashMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            fields.insert(k, v);
        }
    }
    let field = |k: &str| {
        fields
            .get(k)
            .copied()
            .ok_or_else(|| malformed(format!("no {k}")))
    };
    let (time, amz_date) = time(req.header("x-amz-date"))?;
    let (access_key, region, service) = scope(field("Credential")?, amz_date)?;
    Ok(Claim {
        location: Location::Header,
        access_key,
        region,
        service,
        signed_headers: field("SignedHeaders")?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: field("Signature")?.to_string(),
        time,
        expires: None,
        security_token: req.header("x-amz-security-token").map(str::to_string),
    })
}

fn from_query(query: &[(String, String)]) -> Result<Claim, SigError> {
    let get = |k: &str| super::http::param(query, k);
    let need = |k: &str| get(k).ok_or_else(|| malformed(format!("no {k}")));
    if need("X-Amz-Algorithm")? != ALGORITHM {
        return Err(malformed("X-Amz-Algorithm is not AWS4-HMAC-SHA256"));
    }
    let (time, amz_date) = time(get("X-Amz-Date"))?;
    let (access_key, region, service) = scope(need("X-Amz-Credential")?, amz_date)?;
    let expires = need("X-Amz-Expires")?
        .parse::<u64>()
        .map_err(|_| malformed("X-Amz-Expires is not a number"))?;
    Ok(Claim {
        location: Location::Query,
        access_key,
        region,
        service,
        signed_headers: need("X-Amz-SignedHeaders")?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: need("X-Amz-Signature")?.to_string(),
        time,
        expires: Some(expires),
        security_token: get("X-Amz-Security-Token").map(str::to_string),
    })
}

/// Checks `claim` (read from `req`) against the signature `secret` gives. Presigned URLs are
/// accepted with either payload hash clients use: the empty body's (the Go SDKs) or
/// `UNSIGNED-PAYLOAD` (the Rust SDK).
pub fn verify(req: &Arrived, claim: &Claim, secret: &str) -> Result<(), SigError> {
    if !claim.signed_headers.iter().any(|h| h == "host") {
        return Err(malformed("host is not signed"));
    }
    let mut bodies = vec![SignableBody::Bytes(&req.body)];
    if claim.location == Location::Query {
        bodies.push(SignableBody::UnsignedPayload);
    }
    for body in bodies {
        if same(&expected(req, claim, secret, body)?, &claim.signature) {
            return Ok(());
        }
    }
    Err(SigError::Mismatch)
}

/// The signed headers with the values that arrived; the ones the signer adds itself (the date
/// and session token of header signing) are left to it.
fn signed_header_values<'a>(req: &'a Arrived, claim: &'a Claim) -> Vec<(&'a str, &'a str)> {
    let added_by_signer = |h: &str| {
        claim.location == Location::Header && (h == "x-amz-date" || h == "x-amz-security-token")
    };
    claim
        .signed_headers
        .iter()
        .filter(|h| !added_by_signer(h))
        .flat_map(|h| req.header_values(h).map(move |v| (h.as_str(), v)))
        .collect()
}

fn unsigned_query(req: &Arrived, claim: &Claim) -> String {
    if claim.location == Location::Header {
        return req.query.clone();
    }
    req.query
        .split('&')
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            !p.is_empty() && !PRESIGN_PARAMS.contains(&key)
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn settings(claim: &Claim) -> SigningSettings {
    let mut s = SigningSettings::default();
    s.excluded_headers = None;
    let token_signed = match claim.location {
        Location::Header => claim
            .signed_headers
            .iter()
            .any(|h| h == "x-amz-security-token"),
        Location::Query => claim.security_token.is_some(),
    };
    if !token_signed {
        s.session_token_mode = SessionTokenMode::Exclude;
    }
    if claim.location == Location::Query {
        s.signature_location = SignatureLocation::QueryParams;
        s.expires_in = Some(Duration::from_secs(claim.expires.unwrap_or(0)));
    }
    s
}

fn expected(
    req: &Arrived,
    claim: &Claim,
    secret: &str,
    body: SignableBody<'_>,
) -> Result<String, SigError> {
    let host = req.header("host").ok_or_else(|| malformed("no Host"))?;
    let query = unsigned_query(req, claim);
    let uri = match query.is_empty() {
        true => format!("http://{host}{}", req.path),
        false => format!("http://{host}{}?{query}", req.path),
    };
    let headers = signed_header_values(req, claim);
    let request = SignableRequest::new(&req.method, uri, headers.into_iter(), body)
        .map_err(|e| malformed(e.to_string()))?;
    let credentials = Credentials::new(
        &claim.access_key,
        secret,
        claim.security_token.clone(),
        None,
        "canary-sim",
    );
    let identity = credentials.into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&claim.region)
        .name(&claim.service)
        .time(claim.time)
        .settings(settings(claim))
        .build()
        .map_err(|e| malformed(e.to_string()))?
        .into();
    let signed = sign(request, &params).map_err(|e| malformed(e.to_string()))?;
    Ok(signed.signature().to_string())
}

/// Equal strings, compared without an early exit.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    //! The published SigV4 test suite's `get-vanilla` case, read from the `aws-sigv4` sources
    //! in the Cargo registry: the verifier is checked against AWS's own vector, not against the
    //! signer that produced it.
    use super::*;
    use std::path::PathBuf;

    fn suite_case(name: &str) -> PathBuf {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .expect("CARGO_HOME or HOME");
        let registry = home.join("registry/src");
        std::fs::read_dir(&registry)
            .expect("the Cargo registry sources")
            .filter_map(Result::ok)
            .map(|d| {
                d.path()
                    .join("aws-sigv4-1.6.6/aws-signing-test-suite/v4")
                    .join(name)
            })
            .find(|p| p.is_dir())
            .expect("aws-sigv4 1.6.6's signing test suite in the Cargo registry")
    }

    /// The request of a `*-signed-request.txt` file and the suite's secret key.
    fn vector(file: &str) -> (Arrived, String) {
        let dir = suite_case("get-vanilla");
        let context: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap())
                .unwrap();
        let secret = context["credentials"]["secret_access_key"]
            .as_str()
            .unwrap()
            .to_string();
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut lines = text.lines();
        let request_line: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let (path, query) = request_line[1]
            .split_once('?')
            .unwrap_or((request_line[1], ""));
        let headers = lines
            .take_while(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        let req = Arrived {
            method: request_line[0].into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: bytes::Bytes::new(),
        };
        (req, secret)
    }

    fn check(req: &Arrived, secret: &str) -> Result<(), SigError> {
        verify(req, &claim(req)?, secret)
    }

    #[test]
    fn the_published_header_signed_vector_verifies() {
        let (req, secret) = vector("header-signed-request.txt");
        let c = claim(&req).unwrap();
        assert_eq!(
            (c.access_key.as_str(), c.region.as_str(), c.service.as_str()),
            ("AKIDEXAMPLE", "us-east-1", "service")
        );
        assert_eq!(check(&req, &secret), Ok(()));
        assert_eq!(check(&req, "another secret"), Err(SigError::Mismatch));
        let mut moved = req.clone();
        moved.path = "/other".into();
        assert_eq!(check(&moved, &secret), Err(SigError::Mismatch));
        let mut later = req.clone();
        for (n, v) in &mut later.headers {
            if n == "x-amz-date" {
                *v = "20150830T123601Z".into();
            }
        }
        assert_eq!(check(&later, &secret), Err(SigError::Mismatch));
    }

    #[test]
    fn the_published_presigned_vector_verifies() {
        let (req, secret) = vector("query-signed-request.txt");
        assert_eq!(claim(&req).unwrap().location, Location::Query);
        assert_eq!(check(&req, &secret), Ok(()));
        let mut extra = req.clone();
        extra.query.push_str("&Action=GetCallerIdentity");
        assert_eq!(check(&extra, &secret), Err(SigError::Mismatch));
    }

    #[test]
    fn unsigned_and_malformed_requests_are_told_apart() {
        let req = Arrived {
            method: "GET".into(),
            path: "/".into(),
            headers: vec![("host".into(), "h".into())],
            ..Arrived::default()
        };
        assert!(matches!(claim(&req), Err(SigError::Missing)));
        let mut bad = req.clone();
        bad.headers.push((
            "authorization".into(),
            "AWS4-HMAC-SHA256 Credential=x".into(),
        ));
        assert!(matches!(claim(&bad), Err(SigError::Malformed(_))));
    }
}
