//! A misbehaving Prometheus during a rollout: down mid-rollout, NaN, an empty result, 500, HTML,
//! slower than the query timeout. Each is a failed check with its reason in the step history and
//! on the console, the canary rolls back at the threshold, and nothing panics. A scripted
//! Prometheus on 127.0.0.1 answers the queries; it stops with the test.

use crate::canary::canary;
use crate::cluster::Cluster;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How the scripted Prometheus answers its `n`th query (from 0): a status, a body and a delay,
/// or `None` to stop listening (connections refused from then on).
type Script = fn(usize) -> Option<(u16, String, Duration)>;

fn vector(v: &str) -> String {
    json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, v]}]}})
        .to_string()
}

struct Prometheus {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prometheus {
    fn start(script: Script) -> Prometheus {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let seen = AtomicUsize::new(0);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 8192];
                let n = conn.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                // The provider check (`vector(1)`) always answers; the script sees the rest.
                let answer = if request.contains("vector%281%29") || request.contains("vector(1)") {
                    Some((200, vector("1"), Duration::ZERO))
                } else {
                    script(seen.fetch_add(1, Ordering::SeqCst))
                };
                let Some((status, body, delay)) = answer else {
                    return; // the listener drops: Prometheus is down
                };
                std::thread::sleep(delay);
                let kind = if body.starts_with('<') {
                    "text/html"
                } else {
                    "application/json"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Prometheus {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spec(metrics: &str) -> String {
    canary("podinfo")
        .nginx()
        .metrics_server(metrics)
        .interval("1s")
        .threshold(2)
        .step_weight(25)
        .max_weight(75)
        .success_rate("1m", 99)
        .yaml()
}

/// A release analysed by `script`: rolled back at the threshold; the failing checks' reasons.
fn rolled_back_by(script: Script) -> (Vec<String>, String) {
    let prom = Prometheus::start(script);
    let c = Cluster::new();
    c.podinfo_with_traffic();
    let dir = tempfile::tempdir().unwrap();
    let file = Cluster::spec_file(&dir, &spec(&prom.url));
    let r = c.canary_gate(&["run", "--canary", &file]);
    assert_eq!(r.code, 0, "take-over: {}", r.stderr);
    c.release("6.7.1", "0");
    let r = c.canary_gate(&["run", "--canary", &file]);
    assert_eq!(r.code, 1, "rolled back:\n{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let state = c.state("podinfo");
    assert_eq!(state["phase"], "Failed");
    assert!(
        c.primary_image().ends_with(":6.7.0"),
        "the primary keeps the release it had"
    );
    let reasons = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["metrics"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["passed"] == false)
        .map(|m| m["reason"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>();
    assert!(reasons.len() >= 2, "threshold 2: {reasons:?}");
    (reasons, format!("{}\n{}", r.stdout, r.stderr))
}

fn ok() -> (u16, String, Duration) {
    (200, vector("100"), Duration::ZERO)
}

#[test]
fn prometheus_down_mid_rollout() {
    // Two good answers (two steps), then nothing listens.
    let (reasons, out) = rolled_back_by(|n| (n < 2).then(ok));
    assert!(
        // A query already queued when the server went away reads "connection closed".
        reasons
            .iter()
            .all(|r| r.contains("cannot connect: Connection refused")
                || r.contains("connection closed before message completed")),
        "{reasons:?}\n{out}"
    );
}

#[test]
fn prometheus_answers_nan() {
    let (reasons, _) = rolled_back_by(|_| Some((200, vector("NaN"), Duration::ZERO)));
    assert!(
        reasons.iter().all(|r| r.contains("no values")),
        "{reasons:?}"
    );
}

#[test]
fn prometheus_answers_an_empty_result() {
    let (reasons, _) = rolled_back_by(|_| {
        Some((
            200,
            json!({"status": "success", "data": {"resultType": "vector", "result": []}})
                .to_string(),
            Duration::ZERO,
        ))
    });
    assert!(
        reasons.iter().all(|r| r.contains("no values")),
        "{reasons:?}"
    );
}

#[test]
fn prometheus_answers_500() {
    let (reasons, _) = rolled_back_by(|_| {
        Some((
            500,
            json!({"status": "error", "errorType": "internal", "error": "query processing failed"})
                .to_string(),
            Duration::ZERO,
        ))
    });
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("500") && r.contains("query processing failed")),
        "{reasons:?}"
    );
}

#[test]
fn prometheus_answers_html() {
    let (reasons, _) = rolled_back_by(|_| {
        Some((
            200,
            "<html><body>Sign in</body></html>".into(),
            Duration::ZERO,
        ))
    });
    assert!(!reasons.iter().any(String::is_empty), "{reasons:?}");
}

#[test]
fn prometheus_slower_than_the_query_timeout() {
    let (reasons, _) = rolled_back_by(|_| Some((200, vector("100"), Duration::from_secs(6))));
    assert!(
        reasons.iter().all(|r| r.ends_with(": timed out")),
        "{reasons:?}"
    );
}
