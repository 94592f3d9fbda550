//! Posting one alert body: within a deadline, retried on 429 and 5xx after the platform's
//! `Retry-After` (Slack, Discord; seconds) or a short back-off, and Slack's Web API read for its
//! `ok` field (it answers 200 to errors). An error never carries the address or the token, which
//! are credentials.

use serde_json::Value;
use std::time::{Duration, Instant};

/// How many times one message is tried at most.
const ATTEMPTS: u32 = 3;

/// What to post, and where.
pub struct Post<'a> {
    /// The client (with the provider's proxy, if any).
    pub client: &'a reqwest::Client,
    /// The address (a credential).
    pub url: &'a url::Url,
    /// A bearer token (Slack's Web API).
    pub token: Option<&'a str>,
    /// The body.
    pub body: &'a Value,
    /// Slack's Web API: a 200 with `ok: false` is an error.
    pub reads_ok: bool,
}

/// Sends the post before `deadline`; the error says what the platform answered.
pub async fn post(p: &Post<'_>, deadline: Instant) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut req = p.client.post(p.url.clone()).json(p.body).timeout(left);
        if let Some(t) = p.token {
            req = req.bearer_auth(t);
        }
        let reply = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(format!("no answer within {}s", secs(left))),
            Err(e) => return Err(format!("not reachable: {}", e.without_url())),
        };
        let status = reply.status();
        let wait = retry_after(reply.headers());
        let text = reply.text().await.unwrap_or_default();
        if status.is_success() {
            return if p.reads_ok { slack_ok(&text) } else { Ok(()) };
        }
        last = format!("HTTP {}: {}", status.as_u16(), short(&text));
        let retried = status.as_u16() == 429 || status.is_server_error();
        if !retried || attempt + 1 == ATTEMPTS {
            break;
        }
        let pause = wait
            .or_else(|| discord_retry_after(&text))
            .unwrap_or(Duration::from_millis(250 << attempt));
        if Instant::now() + pause >= deadline {
            last.push_str(&format!(" (asked to retry after {}s)", secs(pause)));
            break;
        }
        tokio::time::sleep(pause).await;
    }
    Err(if last.is_empty() {
        "no time left to send".into()
    } else {
        last
    })
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// The first line of an answer, cut to 200 characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

/// `Retry-After` in seconds (the form Slack and Discord send).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Discord's JSON `retry_after` (float seconds), when the header is missing.
fn discord_retry_after(text: &str) -> Option<Duration> {
    let v: Value = serde_json::from_str(text).ok()?;
    v["retry_after"]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Slack's Web API answers 200 with `{"ok": false, "error": ...}` when it refuses.
fn slack_ok(text: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(text).map_err(|_| format!("not JSON: {}", short(text)))?;
    if v["ok"] == Value::Bool(true) {
        return Ok(());
    }
    Err(format!(
        "Slack refused it: {}",
        v["error"].as_str().unwrap_or("no error given")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_web_api_refusals_are_errors() {
        assert_eq!(slack_ok(r#"{"ok":true,"ts":"1"}"#), Ok(()));
        assert_eq!(
            slack_ok(r#"{"ok":false,"error":"channel_not_found"}"#),
            Err("Slack refused it: channel_not_found".into())
        );
        assert!(slack_ok("ok").is_err());
    }

    #[test]
    fn retry_after_is_read_from_the_header_or_discords_body() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        assert_eq!(
            discord_retry_after(
                r#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#
            ),
            Some(Duration::from_millis(500))
        );
    }
}
