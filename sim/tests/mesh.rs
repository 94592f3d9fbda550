//! The mesh data plane: VirtualServices and TrafficSplits split traffic as written, and the
//! Istio and Linkerd series count exactly what each workload answered (one tick of a known
//! length, so every count is exact); and Flagger's Istio and Linkerd queries on a real Prometheus.

use crate::support::{http, poll, prometheus_available, prometheus_scraping};
use canary_gate_sim::controller::{Endpoints, PodSet};
use canary_gate_sim::dataplane::DataPlane;
use canary_gate_sim::resources::by_kind;
use canary_gate_sim::selector::Selector;
use canary_gate_sim::store::Store;
use canary_gate_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Ready pod sets, chosen by label like the controller's.
struct Pods(Vec<PodSet>);

impl Endpoints for Pods {
    fn endpoints(&self, namespace: &str, selector: &Selector) -> Vec<PodSet> {
        self.0
            .iter()
            .filter(|p| p.namespace == namespace && selector.matches_labels(&p.template))
            .cloned()
            .collect()
    }
}

fn pods(workload: &str, count: i64, error_rate: &str, latency_ms: &str) -> PodSet {
    PodSet {
        namespace: "test".into(),
        deployment: workload.into(),
        hash: format!("{workload}-hash"),
        template: json!({"metadata": {"labels": {"app": workload}, "annotations": {
            "canary-gate.dev/sim-error-rate": error_rate, "canary-gate.dev/sim-latency-ms": latency_ms}}}),
        count,
        ready: true,
        since: String::new(),
        names: Vec::new(),
    }
}

/// A store with namespace `test` and Services `podinfo-primary`, `podinfo-canary` (and
/// `nobody`, which selects no pods), plus `objects`.
fn store(objects: &[Value]) -> Store {
    let mut store = Store::new();
    let ns = by_kind("v1", "Namespace").unwrap();
    store
        .create(ns, "", json!({"metadata": {"name": "test"}}))
        .unwrap();
    let svc = by_kind("v1", "Service").unwrap();
    for (name, app) in [
        ("podinfo-primary", "podinfo-primary"),
        ("podinfo-canary", "podinfo"),
        ("nobody", "nobody"),
    ] {
        let body = json!({"metadata": {"name": name}, "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}});
        store.create(svc, "test", body).unwrap();
    }
    for obj in objects {
        let res = by_kind(
            obj["apiVersion"].as_str().unwrap(),
            obj["kind"].as_str().unwrap(),
        )
        .expect("a served kind");
        store.create(res, "test", obj.clone()).unwrap();
    }
    store
}

fn versions() -> Pods {
    Pods(vec![
        pods("podinfo-primary", 2, "0", "10"),
        pods("podinfo", 1, "0.25", "40"),
    ])
}

/// One tick of one second at 1000 requests per second (header share 0.1).
fn run(store: &Store, pods: &Pods) -> DataPlane {
    let mut dp = DataPlane::default();
    dp.tick(store, pods, 1.0, 1000.0, 0.1);
    dp
}

fn codes(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

fn virtual_service(annotations: Value, http: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
           "metadata": {"name": "podinfo", "annotations": annotations},
           "spec": {"hosts": ["podinfo"], "http": http}})
}

fn route(primary: i64, canary: i64) -> Value {
    json!([{"destination": {"host": "podinfo-primary"}, "weight": primary},
           {"destination": {"host": "podinfo-canary.test.svc.cluster.local"}, "weight": canary}])
}

/// The value of the exposition line that starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_virtual_service_splits_by_weight_and_istio_counts_each_workload() {
    let vs = virtual_service(json!({}), json!([{"route": route(80, 20)}]));
    let dp = run(&store(&[vs]), &versions());
    assert_eq!(
        dp.istio_requests("test", "podinfo-primary"),
        codes(&[("200", 800)])
    );
    assert_eq!(
        dp.istio_requests("test", "podinfo"),
        codes(&[("200", 150), ("500", 50)])
    );
    // The pods' own series count the same requests.
    let own: u64 = dp
        .app_requests("test", "podinfo-podinfo-hash")
        .values()
        .sum();
    assert_eq!(own, 200);
    let text = dp.render();
    let canary = r#"istio_request_duration_milliseconds_bucket{reporter="destination",source_workload="unknown",source_workload_namespace="unknown",destination_workload="podinfo",destination_workload_namespace="test",destination_service="podinfo-canary.test.svc.cluster.local",destination_service_name="podinfo-canary",destination_service_namespace="test",request_protocol="http",response_code="500",connection_security_policy="mutual_tls""#;
    assert_eq!(sample(&text, &format!("{canary},le=\"25\"}}")), Some(0.0));
    assert_eq!(sample(&text, &format!("{canary},le=\"50\"}}")), Some(50.0));
    assert_eq!(
        sample(&text, &format!("{canary},le=\"+Inf\"}}")),
        Some(50.0)
    );
    assert!(text.contains("# TYPE istio_requests_total counter"));
    assert!(text.contains(r#"response_code="200",connection_security_policy="mutual_tls"} 800"#));
}

#[test]
fn a_mirror_copies_its_percentage_to_the_mirror_host() {
    let http = json!([{"route": [{"destination": {"host": "podinfo-primary"}}],
                       "mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 25.0}}]);
    let dp = run(&store(&[virtual_service(json!({}), http)]), &versions());
    assert_eq!(
        dp.istio_requests("test", "podinfo-primary"),
        codes(&[("200", 1000)])
    );
    assert_eq!(
        dp.istio_requests("test", "podinfo"),
        codes(&[("200", 188), ("500", 62)])
    );
    // Without a percentage every request is copied.
    let http = json!([{"route": [{"destination": {"host": "podinfo-primary"}}],
                       "mirror": {"host": "podinfo-canary"}}]);
    let dp = run(&store(&[virtual_service(json!({}), http)]), &versions());
    let mirrored: u64 = dp.istio_requests("test", "podinfo").values().sum();
    assert_eq!(mirrored, 1000);
}

#[test]
fn header_routes_take_the_header_share() {
    let http = json!([
        {"match": [{"headers": {"x-canary": {"exact": "insider"}}}], "route": route(0, 100)},
        {"route": route(100, 0)}
    ]);
    let vs = virtual_service(
        json!({"canary-gate.dev/sim-header-share": "0.3", "canary-gate.dev/sim-rps": "2000"}),
        http,
    );
    let dp = run(&store(&[vs]), &versions());
    assert_eq!(
        dp.istio_requests("test", "podinfo-primary"),
        codes(&[("200", 1400)])
    );
    let canary: u64 = dp.istio_requests("test", "podinfo").values().sum();
    assert_eq!(canary, 600);
    // The configured default share (0.1) applies without the annotation.
    let http = json!([
        {"match": [{"headers": {"x-canary": {"exact": "insider"}}}], "route": route(0, 100)},
        {"route": route(100, 0)}
    ]);
    let dp = run(&store(&[virtual_service(json!({}), http)]), &versions());
    let canary: u64 = dp.istio_requests("test", "podinfo").values().sum();
    assert_eq!(canary, 100);
}

#[test]
fn tcp_routes_and_missing_endpoints() {
    let vs = json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "db"},
        "spec": {"hosts": ["db"], "tcp": [{"route": route(60, 40)}],
                 "http": [{"route": [{"destination": {"host": "nobody"}}]}]}});
    let dp = run(&store(&[vs]), &versions());
    // TCP: no HTTP status, all successes (response code 0), split 60/40.
    assert_eq!(
        dp.istio_requests("test", "podinfo-primary"),
        codes(&[("0", 600)])
    );
    assert_eq!(dp.istio_requests("test", "podinfo"), codes(&[("0", 400)]));
    // HTTP to a Service without ready endpoints: 503s, reported by the source.
    assert_eq!(dp.istio_unserved("test", "nobody"), 1000);
}

fn traffic_split(version: &str, name: &str, rps: &str, backends: Value) -> Value {
    json!({"apiVersion": format!("split.smi-spec.io/{version}"), "kind": "TrafficSplit",
           "metadata": {"name": name, "annotations": {"canary-gate.dev/sim-rps": rps}},
           "spec": {"service": "podinfo", "backends": backends}})
}

fn linkerd(pairs: &[(&str, &str, u64)]) -> BTreeMap<(String, String), u64> {
    pairs
        .iter()
        .map(|(c, s, n)| ((c.to_string(), s.to_string()), *n))
        .collect()
}

#[test]
fn traffic_splits_parse_quantity_and_integer_weights() {
    let halves = traffic_split(
        "v1alpha1",
        "halves",
        "1000",
        json!([{"service": "podinfo-primary", "weight": "500m"},
               {"service": "podinfo-canary", "weight": "500m"}]),
    );
    let dp = run(&store(&[halves]), &versions());
    assert_eq!(
        dp.linkerd_responses("test", "podinfo-primary"),
        linkerd(&[("success", "200", 500)])
    );
    assert_eq!(
        dp.linkerd_responses("test", "podinfo"),
        linkerd(&[("failure", "500", 125), ("success", "200", 375)])
    );
    // v1alpha1 whole-number strings, and v1alpha2 integers.
    for split in [
        traffic_split(
            "v1alpha1",
            "strings",
            "1000",
            json!([{"service": "podinfo-primary", "weight": "90"},
                   {"service": "podinfo-canary", "weight": "10"}]),
        ),
        traffic_split(
            "v1alpha2",
            "integers",
            "1000",
            json!([{"service": "podinfo-primary", "weight": 90},
                   {"service": "podinfo-canary", "weight": 10}]),
        ),
    ] {
        let dp = run(&store(&[split]), &versions());
        let primary: u64 = dp
            .linkerd_responses("test", "podinfo-primary")
            .values()
            .sum();
        assert_eq!(primary, 900);
        assert_eq!(
            dp.linkerd_responses("test", "podinfo"),
            linkerd(&[("failure", "500", 25), ("success", "200", 75)])
        );
        // No Istio series for SMI traffic.
        assert!(dp.istio_requests("test", "podinfo").is_empty());
    }
    // A zero weight sends nothing.
    let zero = traffic_split(
        "v1alpha3",
        "zero",
        "1000",
        json!([{"service": "podinfo-primary", "weight": 100},
               {"service": "podinfo-canary", "weight": 0}]),
    );
    let dp = run(&store(&[zero]), &versions());
    assert!(dp.linkerd_responses("test", "podinfo").is_empty());
    let text = dp.render();
    assert!(text.contains(r#"response_total{namespace="test",deployment="podinfo-primary",direction="inbound",tls="true",status_code="200",classification="success"} 1000"#), "{text}");
    assert!(text.contains(r#"response_latency_ms_bucket{namespace="test",deployment="podinfo-primary",direction="inbound",tls="true",status_code="200",le="10"} 1000"#));
    assert!(text.contains(r#"response_latency_ms_bucket{namespace="test",deployment="podinfo-primary",direction="inbound",tls="true",status_code="200",le="5"} 0"#));
}

#[test]
fn quantities() {
    use canary_gate_sim::mesh::parse_quantity;
    for (text, value) in [
        ("90", 90.0),
        ("500m", 0.5),
        ("0", 0.0),
        ("1.5", 1.5),
        ("2k", 2000.0),
        ("1Ki", 1024.0),
        ("1e3", 1000.0),
    ] {
        assert_eq!(parse_quantity(text), Some(value), "{text}");
    }
    for bad in ["", "m", "ten", "inf", "NaN", "1x"] {
        assert_eq!(parse_quantity(bad), None, "{bad}");
    }
}

#[test]
fn one_traffic_split_under_three_versions() {
    let split = traffic_split(
        "v1alpha1",
        "podinfo",
        "10",
        json!([{"service": "podinfo-primary", "weight": "100"}]),
    );
    let store = store(&[split]);
    let none = Selector::default();
    for version in ["v1alpha1", "v1alpha2", "v1alpha3"] {
        let api_version = format!("split.smi-spec.io/{version}");
        let res = by_kind(&api_version, "TrafficSplit").unwrap();
        let items = store.list_items(res, Some("test"), &none, &none);
        assert_eq!(items.len(), 1, "{version}");
        assert_eq!(items[0]["apiVersion"], api_version.as_str());
        let got = store.get(res, "test", "podinfo").unwrap();
        assert_eq!(got["spec"]["backends"][0]["weight"], "100");
    }
    // Created once, whichever version asks again.
    let mut store = store;
    let v2 = by_kind("split.smi-spec.io/v1alpha2", "TrafficSplit").unwrap();
    let again = json!({"metadata": {"name": "podinfo"}, "spec": {"backends": []}});
    assert_eq!(store.create(v2, "test", again).unwrap_err().code, 409);
}

#[test]
fn flagger_istio_and_linkerd_queries_see_the_canary() {
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
    let post = |path: &str, body: Value| {
        let (code, text) = http("POST", &format!("{api}{path}"), Some(&body.to_string()));
        assert_eq!(code, 201, "{path}: {text}");
    };
    for ns in ["istio", "linkerd"] {
        post("/api/v1/namespaces", json!({"metadata": {"name": ns}}));
        let primary = crate::support::deployment(
            ns,
            "podinfo-primary",
            "podinfo-primary",
            2,
            json!({"canary-gate.dev/sim-latency-ms": "5"}),
        );
        let canary = crate::support::deployment(
            ns,
            "podinfo",
            "podinfo",
            1,
            json!({"canary-gate.dev/sim-error-rate": "0.1", "canary-gate.dev/sim-latency-ms": "40"}),
        );
        let deployments = format!("/apis/apps/v1/namespaces/{ns}/deployments");
        post(&deployments, primary);
        post(&deployments, canary);
        let services = format!("/api/v1/namespaces/{ns}/services");
        for (name, app) in [
            ("podinfo-primary", "podinfo-primary"),
            ("podinfo-canary", "podinfo"),
        ] {
            post(
                &services,
                json!({"metadata": {"name": name}, "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}}),
            );
        }
    }
    post(
        "/apis/networking.istio.io/v1beta1/namespaces/istio/virtualservices",
        virtual_service(
            json!({}),
            json!([{"route": [{"destination": {"host": "podinfo-primary"}, "weight": 50},
                              {"destination": {"host": "podinfo-canary.istio.svc.cluster.local"}, "weight": 50}]}]),
        ),
    );
    post(
        "/apis/split.smi-spec.io/v1alpha2/namespaces/linkerd/trafficsplits",
        traffic_split(
            "v1alpha2",
            "podinfo",
            "200",
            json!([{"service": "podinfo-primary", "weight": 50},
                   {"service": "podinfo-canary", "weight": 50}]),
        ),
    );
    let prom = prometheus_scraping(&sim);
    let istio = r#"reporter="destination",destination_workload_namespace="istio",destination_workload=~"podinfo""#;
    let linkerd = r#"namespace="linkerd",deployment=~"podinfo""#;
    let queries = [
        format!(
            r#"sum(rate(istio_requests_total{{{istio},response_code!~"5.*"}}[15s])) / sum(rate(istio_requests_total{{{istio}}}[15s])) * 100"#
        ),
        format!(
            r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{istio}}}[15s])) by (le))"#
        ),
        format!(
            r#"sum(rate(response_total{{{linkerd},classification!="failure",direction="inbound"}}[15s])) / sum(rate(response_total{{{linkerd},direction="inbound"}}[15s])) * 100"#
        ),
        format!(
            r#"histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{{{linkerd},direction="inbound"}}[15s])) by (le))"#
        ),
    ];
    let query = |q: &str| canary_gate_sim::client::instant_query(&prom.url, q);
    poll(Duration::from_secs(60), || {
        queries.iter().all(|q| query(q).is_some()).then_some(())
    })
    .unwrap_or_else(|| {
        let (_, metrics) = http("GET", &sim.metrics_url, None);
        let mesh: Vec<&str> = metrics
            .lines()
            .filter(|l| l.contains("istio_requests_total{") || l.starts_with("response_total"))
            .collect();
        let got: Vec<Option<f64>> = queries.iter().map(|q| query(q)).collect();
        panic!(
            "the four queries gave {got:?} within 60 s; mesh series:\n{}",
            mesh.join("\n")
        )
    });
    assert!(
        prom.wait_for_samples(8, Duration::from_secs(30)),
        "8 scrapes"
    );
    let values: Vec<f64> = queries.iter().map(|q| query(q).unwrap()).collect();
    eprintln!(
        "istio {:.2}% p99 {:.1} ms; linkerd {:.2}% p99 {:.1} ms",
        values[0], values[1], values[2], values[3]
    );
    for (mesh, rate, p99, bucket) in [
        ("istio", values[0], values[1], 25.0..=50.0),
        ("linkerd", values[2], values[3], 30.0..=40.0),
    ] {
        assert!(
            (87.0..=93.0).contains(&rate),
            "{mesh} success rate {rate} (expected 90 ± 3)"
        );
        assert!(
            bucket.contains(&p99),
            "{mesh} p99 {p99} ms (expected in {bucket:?}, latency 40)"
        );
        // The primary's 5 ms must not leak into the canary's figures.
        assert!(p99 > 25.0, "{mesh} p99 {p99}");
    }
}
