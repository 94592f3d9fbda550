//! Plans from the fixture specs: strategy selection, schedules and Flagger's coercions.

use canary_gate::rollout::{Plan, Strategy};
use canary_gate::spec::{Source, load};

fn plan_of(file: &str) -> (Plan, Vec<String>) {
    let text = std::fs::read_to_string(crate::support::root().join(file)).unwrap();
    let loaded = load(&[Source {
        name: file.into(),
        text,
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    let (plan, notes) = Plan::new(&loaded.canaries[0]);
    (
        plan,
        notes
            .into_iter()
            .map(|n| format!("{}: {}", n.path, n.message))
            .collect(),
    )
}

fn canary_from(yaml_analysis: &str, provider: &str) -> (Plan, Vec<String>) {
    let text = format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app}}\nspec:\n  provider: {provider}\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app}}\n  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: app}}\n  service: {{port: 80}}\n  analysis:\n{yaml_analysis}"
    );
    let loaded = load(&[Source {
        name: "inline.yaml".into(),
        text,
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    let (plan, notes) = Plan::new(&loaded.canaries[0]);
    (plan, notes.into_iter().map(|n| n.message).collect())
}

fn weights(p: &Plan) -> Vec<u32> {
    match &p.strategy {
        Strategy::Canary { weights, .. } => weights.clone(),
        other => panic!("not a canary: {other:?}"),
    }
}

#[test]
fn flagger_weight_examples_through_the_whole_spec_path() {
    let cases: &[(&str, &[u32])] = &[
        (
            "    interval: 1m\n    threshold: 5\n    stepWeight: 20\n    maxWeight: 50\n",
            &[20, 40, 60],
        ),
        (
            "    interval: 1m\n    threshold: 5\n    stepWeight: 50\n    maxWeight: 100\n",
            &[50, 100],
        ),
        (
            "    interval: 1m\n    threshold: 5\n    stepWeights: [1, 2, 10, 80]\n",
            &[1, 2, 10, 80],
        ),
        (
            "    interval: 1m\n    threshold: 5\n    stepWeights: [1, 2, 10, 200]\n",
            &[1, 2, 10, 100],
        ),
    ];
    for (analysis, want) in cases {
        let (plan, _) = canary_from(analysis, "nginx");
        assert_eq!(weights(&plan), want.to_vec(), "{analysis}");
    }
}

#[test]
fn overshoot_is_noted() {
    let (_, notes) = canary_from(
        "    interval: 1m\n    threshold: 5\n    stepWeight: 20\n    maxWeight: 50\n",
        "nginx",
    );
    assert!(notes.iter().any(|n| n.contains("reaches 60%")), "{notes:?}");
}

#[test]
fn strategy_selection() {
    let (ab, _) = plan_of("fixtures/canary/valid/nginx-ab-header.yaml");
    assert!(matches!(
        ab.strategy,
        Strategy::AbTesting { iterations: 10, .. }
    ));
    let (bg, _) = plan_of("fixtures/canary/valid/nginx-blue-green.yaml");
    assert_eq!(
        bg.strategy,
        Strategy::BlueGreen {
            iterations: 3,
            mirror: false
        }
    );
    let (c, _) = plan_of("fixtures/canary/valid/nginx-step-weight.yaml");
    assert_eq!(weights(&c), vec![5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    assert_eq!(c.interval.as_secs(), 10);
    assert_eq!(c.threshold, 10);
    assert_eq!(c.progress_deadline.as_secs(), 60);
}

#[test]
fn kubernetes_provider_is_forced_to_blue_green() {
    let (plan, notes) = canary_from(
        "    interval: 1m\n    threshold: 5\n    stepWeight: 10\n",
        "kubernetes",
    );
    assert_eq!(
        plan.strategy,
        Strategy::BlueGreen {
            iterations: 10,
            mirror: false
        }
    );
    assert!(
        notes.iter().any(|n| n.contains("10 iterations")),
        "{notes:?}"
    );
    let (plan, notes) = canary_from(
        "    interval: 1m\n    threshold: 5\n    iterations: 4\n    match:\n      - headers: {x-canary: {exact: insider}}\n",
        "kubernetes",
    );
    assert_eq!(
        plan.strategy,
        Strategy::BlueGreen {
            iterations: 4,
            mirror: false
        }
    );
    assert!(notes.iter().any(|n| n.contains("cleared")), "{notes:?}");
}

#[test]
fn names_follow_flagger() {
    let (p, _) = plan_of("fixtures/canary/valid/kubernetes-blue-green.yaml");
    assert_eq!(p.names.apex, "podinfo-svc");
    assert_eq!(p.names.primary_service, "podinfo-svc-primary");
    assert_eq!(p.names.canary_service, "podinfo-svc-canary");
    assert_eq!(p.names.primary_workload, "podinfo-primary");
    assert_eq!(p.names.canary_ingress, None);
    assert_eq!(p.names.state, "canary-gate.podinfo");
    let (n, _) = plan_of("fixtures/canary/valid/nginx-step-weight.yaml");
    assert_eq!(n.names.canary_ingress.as_deref(), Some("podinfo-canary"));
    let (g, _) = plan_of("fixtures/canary/valid/gatewayapi-canary.yaml");
    assert_eq!(g.names.route.as_deref(), Some("podinfo"));
}

#[test]
fn defaults_are_flaggers() {
    let (p, _) = plan_of("fixtures/canary/valid/webhooks-all-types.yaml");
    assert_eq!(p.progress_deadline.as_secs(), 600);
    assert_eq!(
        (p.primary_ready_threshold, p.canary_ready_threshold),
        (100, 100)
    );
    let default_type = p
        .webhooks
        .iter()
        .find(|w| w.name == "default-type")
        .unwrap();
    assert_eq!(default_type.kind.as_str(), "rollout");
    assert_eq!(default_type.timeout.as_secs(), 10);
    let empty_type = p.webhooks.iter().find(|w| w.name == "empty-type").unwrap();
    assert_eq!(empty_type.kind.as_str(), "rollout");
    let (m, _) = plan_of("fixtures/canary/valid/deprecated-fields.yaml");
    let sr = &m.metrics[0];
    assert_eq!(
        (sr.min, sr.max),
        (Some(99.0), None),
        "deprecated threshold is a minimum for success rate"
    );
    let rd = &m.metrics[1];
    assert_eq!(
        (rd.min, rd.max),
        (None, Some(500.0)),
        "and a maximum for duration"
    );
    assert_eq!(rd.interval.map(|d| d.as_secs()), Some(30));
}
