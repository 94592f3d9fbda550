//! The `sim` metrics provider: a Prometheus-compatible `/api/v1/query` at `/_sim/prometheus`
//! that answers only Flagger's two built-in NGINX queries, from the simulator's own counters
//! (snapshots every second, so `rate()` windows work). Anything else is a 400 naming what it
//! supports. It exists so `canary-gate demo` runs where no Prometheus is installed.

use crate::dataplane::{DataPlane, IngressKey};
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

type Snapshot = (Instant, Vec<(IngressKey, Totals)>);

/// Counter snapshots, one per second for the last ten minutes.
#[derive(Debug, Default)]
pub struct History {
    /// Queries answered so far (for benchmarks).
    pub queries: u64,
    snapshots: VecDeque<Snapshot>,
    last: Option<Instant>,
}

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
        let totals = dp
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
        self.snapshots.push_back((now, totals));
        while self.snapshots.len() > 600 {
            self.snapshots.pop_front();
        }
    }

    fn at(&self, when: Instant, key: &(String, String)) -> Option<Totals> {
        let (_, snap) = self
            .snapshots
            .iter()
            .rev()
            .find(|(t, _)| *t <= when)
            .or_else(|| self.snapshots.front())?;
        Some(
            snap.iter()
                .find(|(k, _)| k == key)
                .map(|(_, t)| *t)
                .unwrap_or_default(),
        )
    }

    /// Answers a query the way Prometheus would (body and status).
    pub fn query(&mut self, promql: &str, now: Instant) -> (u16, Value) {
        self.queries += 1;
        if vector_one(promql) {
            return vector(1.0);
        }
        let label = |name: &str| -> Option<String> {
            let start = promql.find(&format!("{name}=\""))? + name.len() + 2;
            Some(promql[start..].split('"').next()?.to_string())
        };
        let window = promql
            .find('[')
            .and_then(|i| promql[i + 1..].split(']').next())
            .and_then(parse_window);
        let (Some(ns), Some(ing), Some(window)) = (label("namespace"), label("ingress"), window)
        else {
            return unsupported();
        };
        let success = promql.contains("nginx_ingress_controller_requests")
            && promql.contains("status!~\"5.*\"");
        let duration = promql.contains("nginx_ingress_controller_response_duration_seconds_sum");
        if !(success || duration) {
            return unsupported();
        }
        let key = (ns, ing);
        let (Some(now_t), Some(then_t)) = (
            self.at(now, &key),
            self.at(now.checked_sub(window).unwrap_or(now), &key),
        ) else {
            return empty();
        };
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
}

fn vector_one(q: &str) -> bool {
    q.replace(' ', "") == "vector(1)"
}

fn parse_window(w: &str) -> Option<Duration> {
    let (n, unit) = w.split_at(w.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
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
               "error": "the canary-sim metrics provider answers only Flagger's built-in NGINX request-success-rate and request-duration queries (and vector(1)); use a real Prometheus for others"}),
    )
}
