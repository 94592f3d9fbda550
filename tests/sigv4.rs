//! SigV4: AWS's published signing test suite through canary-gate's signer, and the EKS token
//! from fixed credentials and a fixed time, derived again here step by step from AWS's
//! documentation (independently of the signer, with ring's SHA-256 and HMAC).

use base64::Engine;
use canary_gate::cloud::aws::eks;
use canary_gate::cloud::aws::sigv4::{self, Credentials, Signing};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cases the suite's own publisher's signer (aws-sigv4) does not run either, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "get-header-value-multiline",
        "obsolete header line folding, which no HTTP library sends",
    ),
    (
        "get-utf8",
        "a raw UTF-8 path, which is not a valid URI to send",
    ),
    (
        "get-space-unnormalized",
        "a raw space in the path, which is not a valid URI to send",
    ),
    (
        "get-space-normalized",
        "expects the path encoded once, while every service but S3 (and this signer) encodes it twice",
    ),
];

struct Case {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `request.txt`: the request line, `Name:value` headers (`Host` becomes the URL's authority),
/// a blank line, the body.
fn parse(text: &str) -> Case {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap().to_string();
    let path = parts.next().unwrap().to_string();
    let mut host = String::new();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        if name.eq_ignore_ascii_case("host") {
            host = value.to_string();
        } else {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    Case {
        method,
        url: format!("https://{host}{path}"),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn suite_time(context: &Value) -> SystemTime {
    assert_eq!(context["timestamp"], "2015-08-30T12:36:00Z");
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn sign_case(context: &Value, case: &Case, presign: bool) -> Result<String, String> {
    let creds = Credentials {
        access_key_id: context["credentials"]["access_key_id"]
            .as_str()
            .unwrap()
            .into(),
        secret_access_key: context["credentials"]["secret_access_key"]
            .as_str()
            .unwrap()
            .into(),
        session_token: context["credentials"]["token"].as_str().map(String::from),
        expires: None,
    };
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let req = sigv4::Request {
        method: &case.method,
        url: &case.url,
        headers: &headers,
        body: &case.body,
    };
    let how = Signing {
        time: suite_time(context),
        presign: presign
            .then(|| Duration::from_secs(context["expiration_in_seconds"].as_u64().unwrap())),
        normalize_path: context["normalize"].as_bool().unwrap(),
        content_sha256: context["sign_body"].as_bool().unwrap(),
        sign_session_token: !context["omit_session_token"].as_bool().unwrap_or(false),
        ..Signing::new(
            context["region"].as_str().unwrap(),
            context["service"].as_str().unwrap(),
        )
    };
    sigv4::sign(&creds, &req, &how).map(|s| s.signature)
}

#[test]
fn the_published_sigv4_suite_signs_alike() {
    let text =
        std::fs::read_to_string(crate::support::root().join("fixtures/sigv4/suite.json")).unwrap();
    let suite: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(suite.len(), 38, "every v4 case of the suite");
    let mut ran = 0;
    for (name, case) in &suite {
        if NOT_RUN.iter().any(|(n, _)| n == name) {
            continue;
        }
        let request = parse(case["request"].as_str().unwrap());
        let context = &case["context"];
        for (presign, expected) in [
            (false, &case["header_signature"]),
            (true, &case["query_signature"]),
        ] {
            let got =
                sign_case(context, &request, presign).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                &got,
                expected.as_str().unwrap(),
                "{name} (presigned: {presign})"
            );
            ran += 1;
        }
    }
    assert_eq!(ran, 2 * (38 - NOT_RUN.len()));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data.as_bytes()).as_ref().to_vec()
}

/// The token for cluster `prod` in `us-west-2` with AWS's documentation credentials at
/// 2015-08-30T12:36:00Z. Each step below is one of "Create a signed AWS API request"
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>), for a request
/// authenticated in its query string, with the parameters `aws eks get-token` presigns.
#[test]
fn an_eks_token_is_the_documented_presigned_url() {
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
        expires: None,
    };
    let sts = url::Url::parse("https://sts.us-west-2.amazonaws.com/").unwrap();
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let token = eks::token(&creds, "prod", &sts, "us-west-2", time).unwrap();

    // The token: "k8s-aws-v1." and the unpadded base64url of the presigned URL.
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("the prefix");
    assert!(!encoded.contains('='), "no padding");
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    let url = url::Url::parse(&url).unwrap();
    assert_eq!(url.host_str(), Some("sts.us-west-2.amazonaws.com"));
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{k}"))
    };
    assert_eq!(get("Action"), "GetCallerIdentity");
    assert_eq!(get("Version"), "2011-06-15");
    assert_eq!(get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(
        get("X-Amz-Credential"),
        "AKIDEXAMPLE/20150830/us-west-2/sts/aws4_request"
    );
    assert_eq!(get("X-Amz-Date"), "20150830T123600Z");
    assert_eq!(get("X-Amz-Expires"), "60");
    assert_eq!(get("X-Amz-SignedHeaders"), "host;x-k8s-aws-id");

    // Step 1: the canonical request. Query parameters sorted by name and URI-encoded (`/` and
    // `;` too), the signed headers lower-cased and sorted, the hash of the empty payload.
    let canonical = [
        "GET",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-west-2%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        "host:sts.us-west-2.amazonaws.com",
        "x-k8s-aws-id:prod",
        "",
        "host;x-k8s-aws-id",
        &sha256_hex(b""),
    ]
    .join("\n");
    // Step 2: the string to sign: algorithm, time, scope, the canonical request's hash.
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-west-2/sts/aws4_request\n{}",
        sha256_hex(canonical.as_bytes())
    );
    // Step 3: the signing key: HMAC-SHA256 of date, region, service and "aws4_request", keyed
    // first by "AWS4" + the secret.
    let mut key = format!("AWS4{}", creds.secret_access_key).into_bytes();
    for part in ["20150830", "us-west-2", "sts", "aws4_request"] {
        key = hmac(&key, part);
    }
    // Step 4: the signature, and the token carries exactly it.
    let signature = hex(&hmac(&key, &string_to_sign));
    assert_eq!(get("X-Amz-Signature"), signature);
    // The value itself, so that any change to it is seen in review.
    assert_eq!(token, GOLDEN_TOKEN);
}

const GOLDEN_TOKEN: &str = concat!(
    "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl",
    "0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVud",
    "GlhbD1BS0lERVhBTVBMRSUyRjIwMTUwODMwJTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LUR",
    "hdGU9MjAxNTA4MzBUMTIzNjAwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngta",
    "zhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9ZWMzOGMzOWU2YmVmNjc0MjJhNDg4YTBjYmM2YjQ4ZTM0MGYzOWRhMzB",
    "mNWQ5MTAwMjExMzNiM2JiYjJjMzQ2Yw",
);
