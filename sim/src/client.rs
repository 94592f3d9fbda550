//! A minimal blocking HTTP client for Prometheus' query API and plain-text endpoints on loopback
//! (tests, the demo and the Flagger comparison).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The first value of an instant query, when there is one (and it is a number).
pub fn instant_query(base: &str, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let body = get_text(base, &format!("/api/v1/query?query={encoded}"))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let x = v["data"]["result"].as_array()?.first()?["value"][1]
        .as_str()?
        .parse::<f64>()
        .ok()?;
    x.is_finite().then_some(x)
}

/// The body of `GET <base><path>` on a plain-HTTP loopback server (5 s timeout).
pub fn get_text(base: &str, path: &str) -> Option<String> {
    let host = base.strip_prefix("http://")?;
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let body = raw.split_once("\r\n\r\n")?.1;
    Some(
        if raw
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after.get(n + 2..).unwrap_or("");
    }
    out
}
