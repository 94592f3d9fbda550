//! Helpers: a tiny HTTP/1.1 client for admin and Prometheus endpoints, polling, manifests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `(status, body)` of a plain HTTP request to 127.0.0.1.
pub fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    http_as(method, url, "application/json", body)
}

/// Like [`http`] with a content type.
pub fn http_as(method: &str, url: &str, content_type: &str, body: Option<&str>) -> (u16, String) {
    try_http(method, url, content_type, body).expect("connect")
}

/// Like [`http_as`]; `None` when nothing listens yet.
pub fn try_http(
    method: &str,
    url: &str,
    content_type: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Some((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A Deployment manifest (JSON) whose pods carry `app: <app>` and the given annotations.
pub fn deployment(
    ns: &str,
    name: &str,
    app: &str,
    replicas: i64,
    annotations: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                                          "ports": [{"name": "http", "containerPort": 9898}]}]}
            }
        }
    })
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Tools the environment promises (CI sets CANARY_SIM_REQUIRE=kubectl,prometheus).
pub fn required(program: &str) -> bool {
    std::env::var("CANARY_SIM_REQUIRE").is_ok_and(|v| v.split(',').any(|p| p == program))
}

/// A real Prometheus scraping the simulator's `/metrics`.
pub fn prometheus_scraping(
    sim: &canary_gate_sim::SimHandle,
) -> canary_gate_sim::prometheus::Prometheus {
    let target = sim
        .metrics_url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    canary_gate_sim::prometheus::Prometheus::start(&target).unwrap()
}

/// Whether a real Prometheus can run here; says why a test skips when not, and fails instead
/// when `CANARY_SIM_REQUIRE` names it.
pub fn prometheus_available() -> bool {
    if canary_gate_sim::prometheus::Prometheus::available() {
        return true;
    }
    assert!(
        !required("prometheus"),
        "prometheus is required here but not installed"
    );
    eprintln!(
        "skipped: prometheus is not installed (apt-get install --no-install-recommends prometheus)"
    );
    false
}

/// A Gateway manifest (JSON) with one HTTP listener that allows routes from all namespaces.
pub fn gateway(ns: &str, name: &str, annotations: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {
            "gatewayClassName": "canary-sim",
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                           "allowedRoutes": {"namespaces": {"from": "All"}}}]
        }
    })
}
