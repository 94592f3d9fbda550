//! The HTTP side of the token services: one client, endpoints checked before use (https, or plain
//! http on a loopback address only), bounded requests, and the masker every secret passes through
//! before anything can print it. Must not know any one cloud's protocol.

use super::{CloudError, CloudSettings, Env, Token};
use crate::report::console::Masker;
use std::net::IpAddr;
use std::time::Duration;

/// Everything a token exchange needs: the environment, the cloud inputs, an HTTP client and the
/// log masker.
#[derive(Clone)]
pub struct Cloud {
    /// The environment variables, taken once.
    pub env: Env,
    /// The action's cloud inputs.
    pub settings: CloudSettings,
    client: reqwest::Client,
    masker: Masker,
}

/// A token service's answer.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A refusal: "`step` returned `code` for `subject`: `message`", code and message read from
    /// the JSON body at these pointers (the HTTP status and the body's first line without them).
    pub fn refused(&self, step: &str, subject: &str, code: &str, message: &str) -> CloudError {
        let body = self.json();
        let at = |p: &str| {
            body.pointer(p)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let code = at(code).unwrap_or_else(|| format!("HTTP {}", self.status));
        let message = at(message).unwrap_or_else(|| short(&self.body));
        let message = message.lines().next().unwrap_or_default();
        CloudError::Refused(format!("{step} returned {code} for {subject}: {message}"))
    }

    /// An OAuth answer's `access_token` and `expires_in` (a number, or a string as Entra ID's
    /// v1 endpoint writes it; an hour when absent), masked.
    pub fn access_token(&self, cloud: &Cloud, step: &str) -> Result<Token, CloudError> {
        let body = self.json();
        let value = body["access_token"].as_str().ok_or_else(|| {
            CloudError::Refused(format!("{step}: the answer has no access_token"))
        })?;
        cloud.mask(value);
        let lifetime = body["expires_in"]
            .as_u64()
            .or_else(|| body["expires_in"].as_str()?.parse().ok())
            .unwrap_or(3600);
        Ok(Token::new(value.to_string(), Duration::from_secs(lifetime)))
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

impl Cloud {
    /// A context over `env` and `settings`, masking through `masker`.
    pub fn new(env: Env, settings: CloudSettings, masker: Masker) -> Result<Cloud, CloudError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| CloudError::Refused(format!("cloud credentials: HTTP client: {e}")))?;
        Ok(Cloud {
            env,
            settings,
            client,
            masker,
        })
    }

    /// Hides a secret from every later log line (under GitHub Actions).
    pub fn mask(&self, secret: &str) {
        self.masker.mask(secret);
    }

    /// The HTTP client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A form-encoded POST (OAuth and the STS Query API take these).
    pub fn post_form(&self, url: url::Url, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.client
            .post(url)
            .header("content-type", FORM)
            .body(form(pairs))
    }

    /// Sends a request; `what` names the provider and step in a failure ("EKS token: STS
    /// AssumeRoleWithWebIdentity").
    pub async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<Reply, CloudError> {
        let resp = req.send().await.map_err(|e| {
            CloudError::Refused(format!("{what}: {}", crate::error::http_failure(e)))
        })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| {
            CloudError::Refused(format!(
                "{what}: reading the answer: {}",
                crate::error::http_failure(e)
            ))
        })?;
        Ok(Reply { status, body })
    }
}

/// The content type of a form body.
pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// `pairs` form-encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A token service's URL: `https`, or `http` for a loopback address only (a local stand-in);
/// anything else is malformed input naming where the URL came from.
pub fn endpoint(what: &str, from: &str, raw: &str) -> Result<url::Url, CloudError> {
    let invalid = |why: &str| CloudError::Invalid(format!("{what}: {from} {raw:?} {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|_| invalid("is not a URL"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(invalid(
            "uses plain http, which is accepted only for loopback addresses",
        )),
        _ => Err(invalid("is not an https URL")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// The first line of a refusal's body, cut short (a token service's answer never holds the
/// secrets sent to it, but a long HTML page would not be one line).
pub fn short(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(300).collect();
    if out.len() < line.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(endpoint("t", "x", "https://sts.amazonaws.com").is_ok());
        assert!(endpoint("t", "x", "http://127.0.0.1:8080/").is_ok());
        assert!(endpoint("t", "x", "http://[::1]:8080/").is_ok());
        assert!(endpoint("t", "x", "http://localhost:1/").is_ok());
        let e = endpoint(
            "EKS token",
            "AWS_ENDPOINT_URL_STS",
            "http://sts.example.com",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "EKS token: AWS_ENDPOINT_URL_STS \"http://sts.example.com\" uses plain http, which is accepted only for loopback addresses"
        );
        assert!(matches!(
            endpoint("t", "x", "ftp://a"),
            Err(CloudError::Invalid(_))
        ));
    }
}
