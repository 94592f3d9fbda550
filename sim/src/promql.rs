//! The `sim` metrics provider: a Prometheus-compatible `/api/v1/query` at `/_sim/prometheus`
//! that answers only Flagger's built-in queries, from the simulator's own counters (snapshots
//! every second, so `rate()` windows work). It exists so `canary-gate demo` runs where no
//! Prometheus is installed. The four supported queries (whitespace is ignored):
//!
//! - NGINX request success rate: `sum(rate(nginx_ingress_controller_requests{namespace="NS",
//!   ingress="ING",canary!="",status!~"5.*"}[I])) / sum(rate(...{...}[I])) * 100`, from the
//!   canary backend's ingress-nginx series;
//! - NGINX request duration: `sum(rate(nginx_ingress_controller_response_duration_seconds_sum
//!   {...}[I])) / sum(rate(..._count{...}[I])) * 1000`, the mean in milliseconds;
//! - generic HTTP request success rate: `sum(rate(http_request_duration_seconds_count{
//!   kubernetes_namespace="NS",kubernetes_pod_name=~"TARGET-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
//!   status!~"5.*"}[I])) / sum(rate(...{...}[I])) * 100`, from the pods' own histograms;
//! - generic HTTP request duration: `histogram_quantile(0.99, sum(rate(
//!   http_request_duration_seconds_bucket{...}[I])) by (le)) * 1000`, the quantile computed as
//!   Prometheus computes it, in milliseconds (in seconds without the `* 1000`, as Flagger itself
//!   sends it).
//!
//! The pod-name regex is matched as Prometheus would (fully anchored): `TARGET-` and then exactly
//! two non-empty alphanumeric segments, so `podinfo-<hash>-<suffix>` matches target `podinfo` but
//! `podinfo-primary-<hash>-<suffix>` does not. No requests in the window gives the empty vector;
//! `vector(1)` gives 1; anything else is a 400 naming what is supported.

use crate::dataplane::{BUCKETS, DataPlane, IngressKey, PodKey, PodTotals};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Canary-backend totals of one Ingress at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    requests: u64,
    ok: u64,
    duration_sum: f64,
}

/// The counters at one moment: per Ingress (canary backend) and per pod, both sorted by key.
#[derive(Debug)]
struct Snapshot {
    at: Instant,
    ingresses: Vec<(IngressKey, Totals)>,
    pods: Vec<(PodKey, PodTotals)>,
}

/// Counter snapshots, one per second for the last ten minutes.
#[derive(Debug, Default)]
pub struct History {
    /// Queries answered so far (for benchmarks).
    pub queries: u64,
    snapshots: VecDeque<Snapshot>,
    last: Option<Instant>,
}

/// A supported query, parsed.
#[derive(Debug, PartialEq)]
enum Query {
    /// NGINX success rate (`true`) or mean duration (`false`) of an Ingress's canary backend.
    Nginx {
        key: IngressKey,
        window: Duration,
        success: bool,
    },
    /// Success rate of the pods `<target>-<alnum>-<alnum>` in a namespace.
    HttpSuccess {
        namespace: String,
        target: String,
        window: Duration,
    },
    /// The `quantile` of those pods' request durations, times `scale`.
    HttpDuration {
        namespace: String,
        target: String,
        window: Duration,
        quantile: f64,
        scale: f64,
    },
}

/// What follows `kubernetes_pod_name=~"<target>` in Flagger's generic HTTP queries.
const POD_SUFFIX_REGEX: &str = "-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)";

impl History {
    /// Records the counters when a second has passed since the last snapshot.
    pub fn record(&mut self, now: Instant, dp: &DataPlane) {
        if self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(now);
        let ingresses = dp
            .canary_totals()
            .into_iter()
            .map(|(k, (requests, ok, duration_sum))| {
                (
                    k,
                    Totals {
                        requests,
                        ok,
                        duration_sum,
                    },
                )
            })
            .collect();
        self.snapshots.push_back(Snapshot {
            at: now,
            ingresses,
            pods: dp.pod_totals(),
        });
        while self.snapshots.len() > 600 {
            self.snapshots.pop_front();
        }
    }

    /// The last snapshot taken at or before `when` (else the oldest).
    fn at(&self, when: Instant) -> Option<&Snapshot> {
        self.snapshots
            .iter()
            .rev()
            .find(|s| s.at <= when)
            .or_else(|| self.snapshots.front())
    }

    /// The snapshots at `now` and at `now - window`.
    fn window(&self, now: Instant, window: Duration) -> Option<(&Snapshot, &Snapshot)> {
        Some((
            self.at(now)?,
            self.at(now.checked_sub(window).unwrap_or(now))?,
        ))
    }

    /// Answers a query the way Prometheus would (body and status).
    pub fn query(&mut self, promql: &str, now: Instant) -> (u16, Value) {
        self.queries += 1;
        let compact: String = promql.chars().filter(|c| !c.is_whitespace()).collect();
        if compact == "vector(1)" {
            return vector(1.0);
        }
        let Some(query) = parse(&compact) else {
            return unsupported();
        };
        match query {
            Query::Nginx {
                key,
                window,
                success,
            } => self.nginx(&key, window, success, now),
            Query::HttpSuccess {
                namespace,
                target,
                window,
            } => {
                let t = self.pods(&namespace, &target, window, now);
                if t.requests == 0 {
                    return empty();
                }
                vector(t.ok as f64 / t.requests as f64 * 100.0)
            }
            Query::HttpDuration {
                namespace,
                target,
                window,
                quantile,
                scale,
            } => {
                let t = self.pods(&namespace, &target, window, now);
                match histogram_quantile(quantile, &t) {
                    Some(v) => vector(v * scale),
                    None => empty(),
                }
            }
        }
    }

    fn nginx(
        &self,
        key: &IngressKey,
        window: Duration,
        success: bool,
        now: Instant,
    ) -> (u16, Value) {
        let Some((now_s, then_s)) = self.window(now, window) else {
            return empty();
        };
        let totals = |s: &Snapshot| {
            s.ingresses
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, t)| *t)
                .unwrap_or_default()
        };
        let (now_t, then_t) = (totals(now_s), totals(then_s));
        let requests = now_t.requests.saturating_sub(then_t.requests);
        if requests == 0 {
            return empty();
        }
        let value = if success {
            now_t.ok.saturating_sub(then_t.ok) as f64 / requests as f64 * 100.0
        } else {
            (now_t.duration_sum - then_t.duration_sum) / requests as f64 * 1000.0
        };
        vector(value)
    }

    /// The increase over `window` of the totals of the pods `<target>-<alnum>-<alnum>` in
    /// `namespace`, summed (what `sum(rate(...))` is proportional to).
    fn pods(&self, namespace: &str, target: &str, window: Duration, now: Instant) -> PodTotals {
        let mut sum = PodTotals::default();
        let Some((now_s, then_s)) = self.window(now, window) else {
            return sum;
        };
        for ((ns, pod), t) in &now_s.pods {
            if ns != namespace || !pod_matches(target, pod) {
                continue;
            }
            let before = then_s
                .pods
                .binary_search_by(|((n, p), _)| (n.as_str(), p.as_str()).cmp(&(ns, pod)))
                .ok()
                .and_then(|i| then_s.pods.get(i))
                .map(|(_, t)| *t)
                .unwrap_or_default();
            sum.requests += t.requests.saturating_sub(before.requests);
            sum.ok += t.ok.saturating_sub(before.ok);
            for ((s, n), b) in sum.buckets.iter_mut().zip(t.buckets).zip(before.buckets) {
                *s += n.saturating_sub(b);
            }
        }
        sum
    }
}

/// Whether `pod` matches Flagger's fully anchored `<target>-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)`:
/// `<target>-` and then exactly two non-empty alphanumeric segments joined by one `-`.
fn pod_matches(target: &str, pod: &str) -> bool {
    let Some(rest) = pod.strip_prefix(target).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    rest.split_once('-')
        .is_some_and(|(hash, suffix)| alnum(hash) && alnum(suffix))
}

/// The `phi` quantile of a histogram as Prometheus' `histogram_quantile` computes it: the bucket
/// holding rank `phi × count`, interpolated linearly inside it (from 0 for the first bucket); the
/// highest finite bound when the rank falls in `+Inf`. `None` without observations.
fn histogram_quantile(phi: f64, t: &PodTotals) -> Option<f64> {
    if t.requests == 0 {
        return None;
    }
    if phi < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if phi > 1.0 {
        return Some(f64::INFINITY);
    }
    let total = t.requests as f64;
    let rank = phi * total;
    let mut lower = (0.0, 0.0); // (bound, cumulative count) of the bucket below
    for (bound, count) in BUCKETS.iter().zip(t.buckets) {
        let count = count as f64;
        if count >= rank {
            let in_bucket = count - lower.1;
            if in_bucket <= 0.0 {
                return Some(lower.0);
            }
            return Some(lower.0 + (bound - lower.0) * (rank - lower.1) / in_bucket);
        }
        lower = (*bound, count);
    }
    Some(BUCKETS[BUCKETS.len() - 1])
}

/// Parses one of the supported queries (whitespace already removed).
fn parse(q: &str) -> Option<Query> {
    parse_http(q).or_else(|| parse_nginx(q))
}

/// The value of `name="..."` (or `name=~"..."` with `op` `=~`) in `q`.
fn label<'a>(q: &'a str, name: &str, op: &str) -> Option<&'a str> {
    let pattern = format!("{name}{op}\"");
    let start = q.find(&pattern)? + pattern.len();
    q[start..].split('"').next()
}

fn parse_http(q: &str) -> Option<Query> {
    let namespace = label(q, "kubernetes_namespace", "=")?;
    let target = label(q, "kubernetes_pod_name", "=~")?.strip_suffix(POD_SUFFIX_REGEX)?;
    let interval = q.find("}[").and_then(|i| q[i + 2..].split(']').next())?;
    let window = parse_window(interval)?;
    let sel = format!(
        r#"kubernetes_namespace="{namespace}",kubernetes_pod_name=~"{target}{POD_SUFFIX_REGEX}""#
    );
    let success = format!(
        r#"sum(rate(http_request_duration_seconds_count{{{sel},status!~"5.*"}}[{interval}]))/sum(rate(http_request_duration_seconds_count{{{sel}}}[{interval}]))*100"#
    );
    let (namespace, target) = (namespace.to_string(), target.to_string());
    if q == success {
        return Some(Query::HttpSuccess {
            namespace,
            target,
            window,
        });
    }
    let phi_text = q.strip_prefix("histogram_quantile(")?.split(',').next()?;
    let quantile: f64 = phi_text.parse().ok()?;
    let duration = format!(
        "histogram_quantile({phi_text},sum(rate(http_request_duration_seconds_bucket{{{sel}}}[{interval}]))by(le))"
    );
    let scale = match q.strip_prefix(duration.as_str())? {
        "" => 1.0,
        "*1000" => 1000.0,
        _ => return None,
    };
    Some(Query::HttpDuration {
        namespace,
        target,
        window,
        quantile,
        scale,
    })
}

fn parse_nginx(q: &str) -> Option<Query> {
    let window = q
        .find('[')
        .and_then(|i| q[i + 1..].split(']').next())
        .and_then(parse_window)?;
    let namespace = label(q, "namespace", "=")?;
    let ingress = label(q, "ingress", "=")?;
    let success = q.contains("nginx_ingress_controller_requests") && q.contains("status!~\"5.*\"");
    let duration = q.contains("nginx_ingress_controller_response_duration_seconds_sum");
    if !(success || duration) {
        return None;
    }
    Some(Query::Nginx {
        key: (namespace.to_string(), ingress.to_string()),
        window,
        success,
    })
}

fn parse_window(w: &str) -> Option<Duration> {
    let (n, unit) = w.split_at(w.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

fn vector(v: f64) -> (u16, Value) {
    (
        200,
        json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, v.to_string()]}]}}),
    )
}

fn empty() -> (u16, Value) {
    (
        200,
        json!({"status": "success", "data": {"resultType": "vector", "result": []}}),
    )
}

fn unsupported() -> (u16, Value) {
    (
        400,
        json!({"status": "error", "errorType": "bad_data",
               "error": "the canary-sim metrics provider answers only Flagger's built-in queries: the NGINX request-success-rate and request-duration queries (nginx_ingress_controller_*), the generic HTTP request-success-rate and request-duration queries (http_request_duration_seconds_* by kubernetes_pod_name), and vector(1); use a real Prometheus for others"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_match_as_the_anchored_regex_does() {
        assert!(pod_matches("podinfo", "podinfo-7d9f8c-x2z4q"));
        assert!(!pod_matches("podinfo", "podinfo-primary-7d9f8c-x2z4q"));
        assert!(pod_matches(
            "podinfo-primary",
            "podinfo-primary-7d9f8c-x2z4q"
        ));
        assert!(!pod_matches("podinfo", "podinfo-7d9f8c"));
        assert!(!pod_matches("podinfo", "podinfo-7d9f8c-"));
        assert!(!pod_matches("podinfo", "podinfo--x2z4q"));
        assert!(!pod_matches("podinfo", "podinfo2-7d9f8c-x2z4q"));
        assert!(!pod_matches("podinfo", "podinfo-7d9f8c-x2.z4q"));
    }

    #[test]
    fn the_quantile_interpolates_inside_its_bucket() {
        let mut t = PodTotals {
            requests: 100,
            ..PodTotals::default()
        };
        // All 100 at 40 ms: bucket (0.025, 0.05]; rank 99 → 0.025 + 0.025 × 99/100.
        for (b, le) in t.buckets.iter_mut().zip(BUCKETS) {
            *b = if le >= 0.04 { 100 } else { 0 };
        }
        let p99 = histogram_quantile(0.99, &t).unwrap_or_default();
        assert!((p99 - 0.04975).abs() < 1e-12, "{p99}");
        // Half at 3 ms (first bucket, from 0), half at 40 ms: the median is the first bound.
        for (b, le) in t.buckets.iter_mut().zip(BUCKETS) {
            *b = if le >= 0.04 { 100 } else { 50 };
        }
        let p25 = histogram_quantile(0.25, &t).unwrap_or_default();
        assert!((p25 - 0.0025).abs() < 1e-12, "{p25}");
        let p50 = histogram_quantile(0.5, &t).unwrap_or_default();
        assert!((p50 - 0.005).abs() < 1e-12, "{p50}");
        // Beyond the last finite bound: that bound.
        t.buckets = [0; BUCKETS.len()];
        assert_eq!(histogram_quantile(0.99, &t), Some(10.0));
        t.requests = 0;
        assert_eq!(histogram_quantile(0.99, &t), None);
    }

    #[test]
    fn only_the_generic_forms_parse() {
        let sel =
            r#"kubernetes_namespace="test",kubernetes_pod_name=~"web-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)""#;
        let success = format!(
            r#"sum(rate(http_request_duration_seconds_count{{{sel},status!~"5.*"}}[1m])) / sum(rate(http_request_duration_seconds_count{{{sel}}}[1m])) * 100"#
        );
        let compact: String = success.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(
            parse(&compact),
            Some(Query::HttpSuccess {
                namespace: "test".into(),
                target: "web".into(),
                window: Duration::from_secs(60),
            })
        );
        let duration = format!(
            "histogram_quantile(0.99,sum(rate(http_request_duration_seconds_bucket{{{sel}}}[30s]))by(le))"
        );
        for (suffix, scale) in [("*1000", 1000.0), ("", 1.0)] {
            assert_eq!(
                parse(&format!("{duration}{suffix}")),
                Some(Query::HttpDuration {
                    namespace: "test".into(),
                    target: "web".into(),
                    window: Duration::from_secs(30),
                    quantile: 0.99,
                    scale,
                })
            );
        }
        assert_eq!(parse(&format!("{duration}*100")), None);
        assert_eq!(parse(&compact.replace("*100", "*10")), None);
        assert_eq!(parse(&compact.replace("+(-[", "+([")), None);
        assert_eq!(
            parse(&compact.replace("status!~\"5.*\"", "status=~\"2.*\"")),
            None
        );
    }
}
