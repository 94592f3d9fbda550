//! The Prometheus client (reference §5.3): `GET <address>/api/v1/query`, 5 s timeout, status
//! ≥ 400 is a failure with the body, a vector gives its (last) value, empty or NaN is no data, a
//! matrix is a failure.

use crate::rollout::MetricOutcome;
use std::time::Duration;

/// Credentials from a template's Secret (`token`, or `username` + `password`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer`.
    Bearer(String),
    /// Basic auth.
    Basic(String, String),
}

/// Where and how to query.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    /// Base URL (the path is kept).
    pub address: String,
    /// Extra headers (a template's `headers`).
    pub headers: Vec<(String, String)>,
    /// Credentials.
    pub auth: Option<Auth>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// How queries authenticate to a managed Prometheus (a template's setting).
    pub cloud: Option<crate::spec::model::MetricsAuth>,
    /// The template's region (Amazon Managed Service for Prometheus).
    pub region: Option<String>,
}

/// The URL of one instant query: `<address>/api/v1/query?query=<PromQL>`, percent-encoded as a
/// signed request must be sent (spaces as `%20`, never `+`).
pub fn query_url(endpoint: &Endpoint, promql: &str) -> String {
    // The form encoder writes a space as `+` and a literal `+` as `%2B`: every `+` is a space.
    let encoded: String = url::form_urlencoded::byte_serialize(promql.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!(
        "{}/api/v1/query?query={encoded}",
        endpoint.address.trim_end_matches('/')
    )
}

/// Runs one instant query.
pub async fn query(client: &reqwest::Client, address: &str, promql: &str) -> MetricOutcome {
    let endpoint = Endpoint {
        address: address.to_string(),
        ..Endpoint::default()
    };
    query_at(client, &endpoint, promql).await
}

/// `vector(1)` must answer 1: whether the server is there (Flagger's `IsOnline`).
pub async fn is_online(client: &reqwest::Client, endpoint: &Endpoint) -> Result<(), String> {
    match query_at(client, endpoint, "vector(1)").await {
        MetricOutcome::Value(v) if (v - 1.0).abs() < f64::EPSILON => Ok(()),
        MetricOutcome::Value(v) => Err(format!("vector(1) returned {v}")),
        MetricOutcome::NoData => Err("vector(1) returned no data".into()),
        MetricOutcome::Failed(why) => Err(why),
    }
}

/// Runs one instant query against an endpoint.
pub async fn query_at(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    promql: &str,
) -> MetricOutcome {
    let url = query_url(endpoint, promql);
    let mut req = client.get(&url).timeout(Duration::from_secs(5));
    for (k, v) in &endpoint.headers {
        req = req.header(k, v);
    }
    req = match &endpoint.auth {
        Some(Auth::Bearer(t)) => req.bearer_auth(t),
        Some(Auth::Basic(u, p)) => req.basic_auth(u, Some(p)),
        None => req,
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return MetricOutcome::Failed(format!(
                "{}: {}",
                crate::report::redact_url(url.split('?').next().unwrap_or_default()),
                crate::error::http_failure(e)
            ));
        }
    };
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    if status >= 400 {
        return MetricOutcome::Failed(format!(
            "{} answered {status}: {}",
            crate::report::redact_url(url.split('?').next().unwrap_or_default()),
            body.lines().next().unwrap_or("")
        ));
    }
    parse(&body)
}

/// Reads a query response body.
pub fn parse(body: &str) -> MetricOutcome {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return MetricOutcome::Failed("the response is not JSON".into());
    };
    if v["data"]["resultType"] == "matrix" {
        return MetricOutcome::Failed("query returned multiple values (a range vector)".into());
    }
    let Some(result) = v["data"]["result"].as_array() else {
        return MetricOutcome::Failed(format!(
            "unexpected response: {}",
            v["error"].as_str().unwrap_or("no data.result")
        ));
    };
    match result
        .last()
        .and_then(|s| s["value"][1].as_str())
        .map(str::parse::<f64>)
    {
        None => MetricOutcome::NoData,
        Some(Ok(x)) if x.is_nan() => MetricOutcome::NoData,
        Some(Ok(x)) => MetricOutcome::Value(x),
        Some(Err(_)) => MetricOutcome::Failed("the value is not a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_empty_nan_matrix() {
        assert_eq!(
            parse(
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"99.5"]}]}}"#
            ),
            MetricOutcome::Value(99.5)
        );
        assert_eq!(
            parse(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#),
            MetricOutcome::NoData
        );
        assert_eq!(
            parse(
                r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}}"#
            ),
            MetricOutcome::NoData
        );
        assert!(matches!(
            parse(r#"{"data":{"resultType":"matrix","result":[]}}"#),
            MetricOutcome::Failed(_)
        ));
    }
}
