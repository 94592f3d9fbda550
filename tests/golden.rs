//! Golden renders: the fixture app and canary → the primary Deployment and the three Services,
//! compared with `fixtures/golden/*.json`. `UPDATE_GOLDEN=1 cargo test golden` rewrites them.

use crate::support::root;
use canary_gate::router::services::{self, Inputs, Which};
use canary_gate::spec::{Source, load};
use canary_gate::workload::configs::{self, Kind};
use canary_gate::workload::{Options, primary, selector_label};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;
use std::collections::BTreeSet;

fn fixture_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("fixtures/k8s/podinfo.yaml")).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap()
}

/// Compares `actual` with `fixtures/golden/<name>.json` (rewritten under `UPDATE_GOLDEN=1`).
pub fn check(name: &str, actual: &impl serde::Serialize) {
    let path = root().join("fixtures/golden").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, expected, "{name} differs from {}", path.display());
}

#[test]
fn primary_deployment_and_services_render_as_recorded() {
    let objects = fixture_objects();
    let target: Deployment = serde_json::from_value(
        objects
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .unwrap()
            .clone(),
    )
    .unwrap();
    let text = std::fs::read_to_string(root().join("fixtures/k8s/canary.yaml")).unwrap();
    let loaded = load(&[Source {
        name: "canary.yaml".into(),
        text,
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    let canary = &loaded.canaries[0];
    let opts = Options::default();
    let (key, value) = selector_label(
        target.spec.selector.match_labels.as_ref().unwrap(),
        &opts.selector_labels,
    )
    .unwrap();
    let pod = target.spec.template.spec.clone().unwrap();
    let tracked: BTreeSet<(Kind, String)> = configs::references(&pod).into_keys().collect();
    let owner = "test/podinfo";
    let primary = primary::render(
        &target,
        &key,
        &value,
        &opts,
        &tracked,
        owner,
        "00000000-0000-4000-8000-000000000000",
    );
    check("primary-deployment", &primary);
    let service = canary.service.as_ref().unwrap();
    let inputs = Inputs {
        namespace: "test",
        owner,
        service,
        key: &key,
        value: &value,
        discovered: services::discover_ports(&pod, service),
    };
    check("service-apex", &services::render(&inputs, Which::Apex));
    check(
        "service-primary",
        &services::render(&inputs, Which::Primary),
    );
    check("service-canary", &services::render(&inputs, Which::Canary));
    let ingress: k8s_openapi::api::networking::v1::Ingress = serde_json::from_value(
        objects
            .iter()
            .find(|o| o["kind"] == "Ingress")
            .unwrap()
            .clone(),
    )
    .unwrap();
    let canary_ingress = canary_gate::router::nginx::render_canary(
        &ingress,
        &service.name,
        "nginx.ingress.kubernetes.io",
        owner,
    )
    .unwrap();
    check("ingress-canary", &canary_ingress);
}
