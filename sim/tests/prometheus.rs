//! A real Prometheus scraping the simulator: Flagger's NGINX built-in queries return the
//! configured success rate and latency of the canary.

use crate::support::{http, poll, prometheus_available, prometheus_scraping};
use canary_gate_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::time::Duration;

fn query(prom: &str, q: &str) -> Option<f64> {
    canary_gate_sim::client::instant_query(prom, q)
}

fn post(api: &str, path: &str, body: Value) {
    let (code, text) = http("POST", &format!("{api}{path}"), Some(&body.to_string()));
    assert_eq!(code, 201, "{path}: {text}");
}

fn service(name: &str, app: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 9898}]}})
}

fn ingress(name: &str, service: &str, annotations: Value) -> Value {
    json!({"metadata": {"name": name, "annotations": annotations},
           "spec": {"ingressClassName": "nginx", "rules": [{"host": "app.example.com", "http": {"paths": [
               {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
}

#[test]
fn flagger_nginx_queries_see_the_canary() {
    if !prometheus_available() {
        return;
    }
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(100),
        rps: 200.0,
        ..SimConfig::default()
    })
    .unwrap();
    let api = sim.api_url.clone();
    post(
        &api,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "test"}}),
    );
    let primary = crate::support::deployment(
        "test",
        "podinfo-primary",
        "podinfo-primary",
        2,
        json!({"canary-gate.dev/sim-latency-ms": "10"}),
    );
    let canary = crate::support::deployment(
        "test",
        "podinfo",
        "podinfo",
        1,
        json!({"canary-gate.dev/sim-error-rate": "0.2", "canary-gate.dev/sim-latency-ms": "40"}),
    );
    post(&api, "/apis/apps/v1/namespaces/test/deployments", primary);
    post(&api, "/apis/apps/v1/namespaces/test/deployments", canary);
    post(
        &api,
        "/api/v1/namespaces/test/services",
        service("podinfo", "podinfo-primary"),
    );
    post(
        &api,
        "/api/v1/namespaces/test/services",
        service("podinfo-canary", "podinfo"),
    );
    post(
        &api,
        "/apis/networking.k8s.io/v1/namespaces/test/ingresses",
        ingress("podinfo", "podinfo", json!({})),
    );
    post(
        &api,
        "/apis/networking.k8s.io/v1/namespaces/test/ingresses",
        ingress(
            "podinfo-canary",
            "podinfo-canary",
            json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "50"}),
        ),
    );

    let prom = prometheus_scraping(&sim);
    let sel = r#"namespace="test",ingress="podinfo",canary!="""#;
    let success = format!(
        r#"sum(rate(nginx_ingress_controller_requests{{{sel},status!~"5.*"}}[1m])) / sum(rate(nginx_ingress_controller_requests{{{sel}}}[1m])) * 100"#
    );
    let duration = format!(
        r#"sum(rate(nginx_ingress_controller_response_duration_seconds_sum{{{sel}}}[1m])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{{{sel}}}[1m])) * 1000"#
    );
    // The first scrape lands some seconds after start: poll, then wait for a few more samples.
    let first = poll(Duration::from_secs(60), || query(&prom.url, &success))
        .expect("Prometheus has canary traffic within 60 s");
    let samples = poll(Duration::from_secs(30), || {
        query(&prom.url, "count_over_time(up[1m])").filter(|n| *n >= 4.0)
    });
    assert!(samples.is_some(), "four scrapes within 30 s");
    let rate = query(&prom.url, &success).unwrap_or(first);
    let mean_ms = query(&prom.url, &duration).expect("duration query has data");
    assert!(
        (75.0..=85.0).contains(&rate),
        "success rate {rate} (expected 80 ± 5)"
    );
    assert!(
        (32.0..=48.0).contains(&mean_ms),
        "mean duration {mean_ms} ms (expected 40 ± 20%)"
    );
    // The primary's traffic is not in the canary's numbers, but it is there.
    let all = query(
        &prom.url,
        r#"sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="podinfo"}[1m]))"#,
    )
    .unwrap();
    let canary_rps = query(
        &prom.url,
        &format!("sum(rate(nginx_ingress_controller_requests{{{sel}}}[1m]))"),
    )
    .unwrap();
    eprintln!(
        "success rate {rate:.2}%, mean duration {mean_ms:.2} ms, canary {canary_rps:.1} of {all:.1} req/s"
    );
    assert!(
        canary_rps > 0.3 * all && canary_rps < 0.7 * all,
        "weight 50: canary {canary_rps} of {all} req/s"
    );
}
