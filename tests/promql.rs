//! The queries canary-gate sends, proven on synthetic series with `promtool test rules`: the
//! built-in NGINX checks and two fixture templates, rendered by the product's own code.

use canary_gate::metrics::{builtin, template};
use canary_gate::spec::model::Builtin;
use canary_gate::spec::{Source, load};
use std::collections::BTreeMap;

fn rendered_templates() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        crate::support::root().join("fixtures/canary/valid/metric-templates-same-file.yaml"),
    )
    .unwrap();
    let loaded = load(&[Source {
        name: "t.yaml".into(),
        text,
    }]);
    assert_eq!(loaded.errors(), 0);
    let vars = BTreeMap::from([("status".to_string(), "404".to_string())]);
    let model = template::Model {
        name: "podinfo",
        namespace: "test",
        target: "podinfo",
        service: "podinfo",
        ingress: "podinfo",
        route: "podinfo",
        interval: "1m",
        variables: &vars,
    };
    loaded
        .templates
        .iter()
        .map(|t| (t.name.clone(), template::render(&t.query, &model).unwrap()))
        .collect()
}

#[test]
fn builtin_and_template_queries_compute_the_expected_values() {
    if !crate::support::have("promtool") {
        assert!(
            !crate::support::required("prometheus"),
            "promtool (Debian prometheus) is required here"
        );
        eprintln!("skipped: promtool is not installed");
        return;
    }
    let success = builtin::nginx(Builtin::RequestSuccessRate, "test", "podinfo", "1m");
    let duration = builtin::nginx(Builtin::RequestDuration, "test", "podinfo", "1m");
    let http_success = builtin::http(Builtin::RequestSuccessRate, "test", "podinfo", "1m");
    let http_p99 = builtin::http(Builtin::RequestDuration, "test", "podinfo", "1m");
    let templates = rendered_templates();
    let not_found = &templates
        .iter()
        .find(|(n, _)| n == "not-found-percentage")
        .unwrap()
        .1;
    let p99 = &templates
        .iter()
        .find(|(n, _)| n == "p99-latency")
        .unwrap()
        .1;
    // Canary backend: 90 ok + 10 errors per 15 s; the primary's traffic (canary="") must not count.
    // Mean duration: 0.04 s per request. App series: 10% 404s (the template yields the 404
    // percentage, 10); 95% of requests under 0.1 s, all under 0.25 s: p99 interpolates to 0.22.
    let l = r#"namespace="test",ingress="podinfo",service="podinfo-canary",canary="test-podinfo-canary-80""#;
    let p = r#"namespace="test",ingress="podinfo",service="podinfo",canary="""#;
    let app = r#"namespace="test",job="podinfo-canary""#;
    let h = r#"namespace="test",service="podinfo""#;
    // The app's own series on canary pods (podinfo-<hash>-<suffix>) and on the primary's pods,
    // which must not count.
    let c = r#"kubernetes_namespace="test",kubernetes_pod_name="podinfo-7d4b9c6f5d-x2x4q""#;
    let pr = r#"kubernetes_namespace="test",kubernetes_pod_name="podinfo-primary-5c8d7b6f4-abcde""#;
    let test = format!(
        r#"rule_files: []
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'nginx_ingress_controller_requests{{{l},status="200"}}'
        values: '0+90x20'
      - series: 'nginx_ingress_controller_requests{{{l},status="500"}}'
        values: '0+10x20'
      - series: 'nginx_ingress_controller_requests{{{p},status="500"}}'
        values: '0+100x20'
      - series: 'nginx_ingress_controller_response_duration_seconds_sum{{{l},status="200"}}'
        values: '0+4x20'
      - series: 'nginx_ingress_controller_response_duration_seconds_count{{{l},status="200"}}'
        values: '0+100x20'
      - series: 'http_requests_total{{{app},status="200"}}'
        values: '0+90x20'
      - series: 'http_requests_total{{{app},status="404"}}'
        values: '0+10x20'
      - series: 'http_request_duration_seconds_bucket{{{h},le="0.1"}}'
        values: '0+95x20'
      - series: 'http_request_duration_seconds_bucket{{{h},le="0.25"}}'
        values: '0+100x20'
      - series: 'http_request_duration_seconds_bucket{{{h},le="+Inf"}}'
        values: '0+100x20'
      - series: 'http_request_duration_seconds_count{{{c},status="200"}}'
        values: '0+80x20'
      - series: 'http_request_duration_seconds_count{{{c},status="500"}}'
        values: '0+20x20'
      - series: 'http_request_duration_seconds_count{{{pr},status="500"}}'
        values: '0+100x20'
      - series: 'http_request_duration_seconds_bucket{{{c},status="200",le="0.05"}}'
        values: '0+90x20'
      - series: 'http_request_duration_seconds_bucket{{{c},status="200",le="0.1"}}'
        values: '0+100x20'
      - series: 'http_request_duration_seconds_bucket{{{c},status="200",le="+Inf"}}'
        values: '0+100x20'
    promql_expr_test:
      - expr: round({success}, 0.001)
        eval_time: 5m
        exp_samples: [{{labels: '{{}}', value: 90}}]
      - expr: round({duration}, 0.001)
        eval_time: 5m
        exp_samples: [{{labels: '{{}}', value: 40}}]
      - expr: round({http_success}, 0.001)
        eval_time: 5m
        exp_samples: [{{labels: '{{}}', value: 80}}]
      - expr: round({http_p99}, 0.001)
        eval_time: 5m
        exp_samples: [{{labels: '{{}}', value: 95}}]
      - expr: round({not_found}, 0.001)
        eval_time: 5m
        exp_samples: [{{labels: '{{}}', value: 10}}]
      - expr: round({p99}, 0.001)
        eval_time: 5m
        exp_samples: [{{labels: '{{}}', value: 0.22}}]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queries.test.yml");
    std::fs::write(&file, &test).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool:\n{report}\n{test}");
}
