//! The stand-ins' HTTP plumbing: one buffered request as it arrived, JSON and XML responses,
//! form and percent decoding, random identifiers and wall-clock formats. Must not decide who is
//! accepted.

use crate::server::Response;
use aws_smithy_types::date_time::{DateTime, Format};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A request read whole: what every stand-in (and the SigV4 verifier) looks at.
#[derive(Clone, Debug, Default)]
pub struct Arrived {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case, values as sent, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Arrived {
    /// Reads a hyper request, body included.
    pub async fn read(req: hyper::Request<Incoming>) -> Result<Arrived, std::io::Error> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        let headers = parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        Ok(Arrived {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers,
            body,
        })
    }

    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in arrival order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The bearer token of the `Authorization` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }

    /// The query's parameters, decoded.
    pub fn query_params(&self) -> Vec<(String, String)> {
        crate::api::parse_query(&self.query)
    }

    /// The body's parameters: a JSON object's string (or string-array, space-joined) members
    /// when the content type says JSON, else `application/x-www-form-urlencoded` pairs.
    pub fn body_params(&self) -> Vec<(String, String)> {
        let json = self
            .header("content-type")
            .is_some_and(|c| c.contains("json"));
        if !json {
            return crate::api::parse_query(&String::from_utf8_lossy(&self.body));
        }
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&self.body) else {
            return Vec::new();
        };
        map.into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Array(items) => {
                    let words: Vec<&str> = items.iter().filter_map(|i| i.as_str()).collect();
                    Some((k, words.join(" ")))
                }
                _ => None,
            })
            .collect()
    }
}

/// The value of `key` among decoded parameters (the first one).
pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Percent-decodes a path segment (`+` stays `+`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(code: u16, body: String, content_type: &'static str) -> Response {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

/// A JSON response.
pub fn json(code: u16, body: &serde_json::Value) -> Response {
    respond(code, body.to_string(), "application/json")
}

/// An XML response (the AWS Query API's).
pub fn xml(code: u16, body: String) -> Response {
    respond(code, body, "text/xml")
}

/// A response with any body and content type (the AMP stand-in passing Prometheus through).
pub fn raw(code: u16, body: Bytes, content_type: &str) -> Response {
    let mut resp = hyper::Response::new(Full::new(body));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 32 random lower-case hex digits.
pub fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A random identifier in the UUID form (request ids, trace ids).
pub fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Seconds since the epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A time from seconds since the epoch.
pub fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// RFC 3339 in UTC, whole seconds: `2026-12-06T16:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    DateTime::from_secs(unix(t) as i64)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// SigV4's basic ISO-8601 time (`20150830T123600Z`) as a time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let shaped = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
    if !shaped {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    let t = DateTime::from_str(&text, Format::DateTime).ok()?;
    u64::try_from(t.secs()).ok().map(from_unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(rfc3339(t), "2015-08-30T12:36:00Z");
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(parse_amz_date("20150830T1236000"), None);
    }

    #[test]
    fn percent_decoding_keeps_plus() {
        assert_eq!(percent_decode("sa%40p.iam+x%2"), "sa@p.iam+x%2");
    }
}
