//! The `sim` metrics provider (`/_sim/prometheus`): Flagger's generic HTTP built-in queries read
//! the pods' own `http_request_duration_seconds` histograms of the anchored `<target>-*-*` pods
//! only; with a real Prometheus installed, it gives the same answers for the same queries.

use crate::support::{deployment, gateway, http, poll, prometheus_available, prometheus_scraping};
use canary_gate_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use std::time::Duration;

/// Flagger's generic HTTP success-rate query.
fn success_query(ns: &str, target: &str, interval: &str) -> String {
    let sel = format!(
        r#"kubernetes_namespace="{ns}",kubernetes_pod_name=~"{target}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)""#
    );
    format!(
        r#"sum(rate(http_request_duration_seconds_count{{{sel},status!~"5.*"}}[{interval}])) / sum(rate(http_request_duration_seconds_count{{{sel}}}[{interval}])) * 100"#
    )
}

/// Flagger's generic HTTP duration query (p99), in milliseconds.
fn duration_query(ns: &str, target: &str, interval: &str) -> String {
    let sel = format!(
        r#"kubernetes_namespace="{ns}",kubernetes_pod_name=~"{target}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)""#
    );
    format!(
        "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{{{sel}}}[{interval}])) by (le)) * 1000"
    )
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `(status, body)` of a query to the sim provider.
fn ask(sim: &SimHandle, q: &str) -> (u16, Value) {
    let (code, body) = http(
        "GET",
        &format!(
            "{}/_sim/prometheus/api/v1/query?query={}",
            sim.api_url,
            encode(q)
        ),
        None,
    );
    (code, serde_json::from_str(&body).unwrap())
}

/// The single value of a successful query, `None` for the empty vector.
fn value(sim: &SimHandle, q: &str) -> Option<f64> {
    let (code, body) = ask(sim, q);
    assert_eq!(code, 200, "{q}: {body}");
    let result = body["data"]["result"].as_array().unwrap();
    assert!(result.len() <= 1, "{body}");
    result
        .first()
        .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
}

/// `web-primary` (2 pods, 10 ms, no errors) and `web` (1 pod, 40 ms, 25 % errors), split 50/50
/// by an HTTPRoute at 1000 requests per second.
fn cluster() -> SimHandle {
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .unwrap();
    for ns in ["test", "gateways"] {
        sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    sim.create(gateway("gateways", "public", json!({})))
        .unwrap();
    let apps = [
        (
            "web-primary",
            2,
            json!({"canary-gate.dev/sim-latency-ms": "10"}),
        ),
        (
            "web",
            1,
            json!({"canary-gate.dev/sim-error-rate": "0.25", "canary-gate.dev/sim-latency-ms": "40"}),
        ),
    ];
    for (app, replicas, annotations) in apps {
        sim.create(deployment("test", app, app, replicas, annotations))
            .unwrap();
        sim.create(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": "test"},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 9898}]}}))
            .unwrap();
    }
    sim.create(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "test", "annotations": {"canary-gate.dev/sim-rps": "1000"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "rules": [{"backendRefs": [
                {"name": "web-primary", "port": 80, "weight": 50},
                {"name": "web", "port": 80, "weight": 50}
            ]}]
        }
    }))
    .unwrap();
    sim
}

#[test]
fn generic_http_queries_read_the_target_pods_histograms() {
    let sim = cluster();
    let success = success_query("test", "web", "30s");
    // Wait for data, then for a few more seconds of it (snapshots are taken every second).
    poll(Duration::from_secs(10), || value(&sim, &success)).expect("canary traffic within 10 s");
    std::thread::sleep(Duration::from_secs(2));
    let canary = sim.with_state(|s| s.dataplane.app_requests("test", "web-"));
    assert!(
        canary.keys().any(|k| k == "500"),
        "the canary answers some 500s: {canary:?}"
    );

    let rate = value(&sim, &success).expect("a success rate");
    assert!(
        (74.0..=76.0).contains(&rate),
        "canary success rate {rate} (error rate 0.25; web-primary-* pods are not `web-*-*`)"
    );
    let primary = value(&sim, &success_query("test", "web-primary", "30s"));
    assert_eq!(primary, Some(100.0), "the primary never fails");

    // All requests at 40 ms: bucket (25, 50] ms, p99 = 25 + 25 × 0.99.
    let p99 = value(&sim, &duration_query("test", "web", "1m")).expect("a duration");
    assert!((p99 - 49.75).abs() < 1e-6, "canary p99 {p99} ms");
    // 10 ms: bucket (5, 10] ms.
    let p99 = value(&sim, &duration_query("test", "web-primary", "1m")).expect("a duration");
    assert!((p99 - 9.95).abs() < 1e-6, "primary p99 {p99} ms");
    // As Flagger itself sends it, without `* 1000`: seconds.
    let q = duration_query("test", "web", "1m");
    let seconds = value(&sim, q.trim_end_matches(" * 1000")).expect("a duration");
    assert!((seconds - 0.04975).abs() < 1e-9, "canary p99 {seconds} s");

    // Nothing there: the empty vector.
    assert_eq!(value(&sim, &success_query("other", "web", "1m")), None);
    assert_eq!(value(&sim, &duration_query("test", "nothing", "1m")), None);

    // Other queries are refused, naming the supported ones.
    for q in [
        r#"sum(rate(http_request_duration_seconds_count{kubernetes_namespace="test"}[1m]))"#,
        r#"histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="test",kubernetes_pod_name=~"web-.*"}[1m])) by (le)) * 1000"#,
    ] {
        let (code, body) = ask(&sim, q);
        assert_eq!(code, 400, "{q}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("NGINX") && error.contains("generic HTTP"),
            "{error}"
        );
    }
}

#[test]
fn a_real_prometheus_gives_the_same_answers() {
    if !prometheus_available() {
        return;
    }
    let sim = cluster();
    let prom = prometheus_scraping(&sim);
    let queries = [
        success_query("test", "web", "1m"),
        success_query("test", "web-primary", "1m"),
        duration_query("test", "web", "1m"),
        duration_query("test", "web-primary", "1m"),
    ];
    poll(Duration::from_secs(60), || {
        canary_gate_sim::client::instant_query(&prom.url, &queries[0])
    })
    .expect("Prometheus has canary traffic within 60 s");
    assert!(
        prom.wait_for_samples(4, Duration::from_secs(30)),
        "four scrapes within 30 s"
    );
    for q in &queries {
        let real = canary_gate_sim::client::instant_query(&prom.url, q)
            .unwrap_or_else(|| panic!("Prometheus answers {q}"));
        let ours = value(&sim, q).unwrap_or_else(|| panic!("the sim answers {q}"));
        eprintln!("{q}\n  Prometheus {real}, sim {ours}");
        assert!(
            (real - ours).abs() <= 0.01 * real.abs().max(1.0),
            "{q}: Prometheus {real}, sim {ours}"
        );
    }
}
