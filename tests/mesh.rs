//! The mesh routers' objects: golden Istio VirtualService and DestinationRule renders and SMI
//! TrafficSplit renders (for `linkerd`, `smi:v1alpha2`, `smi:v1alpha3`), each checked against
//! the schema of its CRD (vendored under `fixtures/istio/` and `fixtures/smi/`) and read back
//! to the split it was rendered for.

use crate::support::root;
use canary_gate::rollout::{Plan, Routes};
use canary_gate::router::istio::{self, render};
use canary_gate::router::smi::{self, SplitVersion};
use canary_gate::spec::{Source, load};
use serde_json::{Value, json};

/// The mesh canaries, with `metrics` as their metrics server.
pub fn specs(metrics: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/k8s/canary-mesh.yaml"))
        .unwrap()
        .replace("METRICS", metrics)
}

/// The spec document of canary `name` from the fixture, alone.
pub fn spec_of(name: &str, metrics: &str) -> String {
    specs(metrics)
        .split("\n---\n")
        .find(|d| d.contains(&format!("metadata: {{name: {name}, ")))
        .unwrap()
        .to_string()
}

/// A vendored CRD schema (`fixtures/<dir>/<file>`).
pub fn schema(path: &str) -> jsonschema::Validator {
    let path = root().join("fixtures").join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// `object` is valid against `schema`.
pub fn assert_valid(schema: &jsonschema::Validator, object: &Value) {
    let errors: Vec<String> = schema
        .iter_errors(object)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{object:#}");
}

fn plans() -> Vec<(String, Plan)> {
    let loaded = load(&[Source {
        name: "canary-mesh.yaml".into(),
        text: specs("http://prometheus:9090"),
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    loaded
        .canaries
        .iter()
        .map(|c| (c.name.clone(), Plan::new(c).0))
        .collect()
}

fn plan(name: &str) -> Plan {
    plans().into_iter().find(|(n, _)| n == name).unwrap().1
}

fn split(primary: u32, canary: u32, mirrored: bool) -> Routes {
    Routes {
        primary,
        canary,
        mirrored,
    }
}

fn object(api_version: &str, kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": "test"}, "spec": spec})
}

#[test]
fn virtual_services_render_as_recorded_and_valid_against_the_istio_crd() {
    let vs_schema = schema("istio/virtualservice-v1beta1.schema.json");
    let cases = [
        (
            "podinfo",
            "virtualservice-canary-start",
            split(100, 0, false),
            None,
        ),
        (
            "podinfo",
            "virtualservice-canary-40",
            split(60, 40, false),
            None,
        ),
        (
            "podinfo-ab",
            "virtualservice-ab",
            split(0, 100, false),
            None,
        ),
        (
            "podinfo-bg",
            "virtualservice-bluegreen-mirror",
            split(100, 0, true),
            None,
        ),
        (
            "podinfo-full",
            "virtualservice-full-sticky",
            split(80, 20, false),
            Some("canary-session=0123abcd"),
        ),
        (
            "podinfo-full",
            "virtualservice-full-expired",
            split(100, 0, false),
            Some("canary-session=0123abcd"),
        ),
    ];
    for (canary, golden, split, cookie) in cases {
        let plan = plan(canary);
        let input = istio::input(&plan).unwrap();
        let spec = render::spec(&input, split, cookie);
        let vs = object(render::API_VERSION, "VirtualService", input.name, spec);
        assert_valid(&vs_schema, &vs);
        crate::golden::check(golden, &vs);
        assert_eq!(
            render::split_of(&vs["spec"], &input),
            Some(split),
            "{golden} reads back"
        );
        assert_eq!(
            render::cookie_of(&vs["spec"], input.canary).as_deref(),
            cookie,
            "{golden}: the sticky cookie reads back"
        );
    }
    // The schema is not a formality: a string weight fails it.
    let mut bad = object(
        render::API_VERSION,
        "VirtualService",
        "x",
        json!({"hosts": ["x"],
        "http": [{"route": [{"destination": {"host": "x"}, "weight": "ten"}]}]}),
    );
    assert!(vs_schema.iter_errors(&bad).next().is_some());
    bad["spec"]["http"][0]["route"][0]["weight"] = json!(10);
    assert_valid(&vs_schema, &bad);
}

#[test]
fn the_virtual_service_follows_flaggers_rules_for_hosts_gateways_and_ports() {
    let full = plan("podinfo-full");
    let input = istio::input(&full).unwrap();
    let spec = render::spec(&input, split(100, 0, false), None);
    // The apex is added to the hosts; the given gateway replaces `mesh`.
    assert_eq!(spec["hosts"], json!(["app.example.com", "podinfo"]));
    assert_eq!(
        spec["gateways"],
        json!(["public-gateway.istio-system.svc.cluster.local"])
    );
    // Port discovery through an ingress gateway names the port on every destination.
    assert_eq!(
        spec["http"][0]["route"][0]["destination"]["port"]["number"],
        80
    );
    let plain = plan("podinfo");
    let input = istio::input(&plain).unwrap();
    let spec = render::spec(&input, split(100, 0, false), None);
    assert_eq!(spec["hosts"], json!(["podinfo"]));
    assert_eq!(spec["gateways"], json!(["mesh"]));
    assert!(spec["http"][0]["route"][0]["destination"]["port"].is_null());
    // A delegate has neither hosts nor gateways.
    let mut delegate = istio::input(&plain).unwrap();
    delegate.delegation = true;
    let spec = render::spec(&delegate, split(100, 0, false), None);
    assert!(
        spec.get("hosts").is_none() && spec.get("gateways").is_none(),
        "{spec}"
    );
    // A TCP service gets one weighted TCP route.
    let mut tcp = istio::input(&plain).unwrap();
    tcp.tcp = true;
    let spec = render::spec(&tcp, split(70, 30, false), None);
    assert!(spec.get("http").is_none(), "{spec}");
    assert_eq!(render::split_of(&spec, &tcp), Some(split(70, 30, false)));
    // A route holding no weight on either destination reads as no split, as Flagger's GetRoutes.
    let empty =
        json!({"http": [{"route": [{"destination": {"host": "podinfo-canary"}, "weight": 0}]}]});
    assert_eq!(render::split_of(&empty, &input), None);
}

#[test]
fn destination_rules_render_as_recorded_and_valid_against_the_istio_crd() {
    let dr_schema = schema("istio/destinationrule-v1beta1.schema.json");
    let plan = plan("podinfo");
    let input = istio::input(&plan).unwrap();
    let dr = object(
        render::API_VERSION,
        "DestinationRule",
        input.primary,
        render::destination_rule(&input, input.primary),
    );
    assert_valid(&dr_schema, &dr);
    crate::golden::check("destinationrule-primary", &dr);
    assert_eq!(dr["spec"]["host"], "podinfo-primary");
    assert_eq!(dr["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");
}

#[test]
fn traffic_splits_render_as_recorded_and_valid_against_the_smi_crd_of_each_version() {
    let cases = [
        ("podinfo-linkerd", SplitVersion::V1alpha1, "v1alpha1"),
        ("podinfo-smi", SplitVersion::V1alpha2, "v1alpha2"),
        ("podinfo-smi", SplitVersion::V1alpha3, "v1alpha3"),
    ];
    for (canary, version, name) in cases {
        let plan = plan(canary);
        let input = smi::input(&plan, version, "test").unwrap();
        let ts = object(
            version.api_version(),
            "TrafficSplit",
            input.name,
            smi::spec(&input, split(70, 30, false)),
        );
        assert_valid(
            &schema(&format!("smi/trafficsplit-{name}.schema.json")),
            &ts,
        );
        crate::golden::check(&format!("trafficsplit-{name}"), &ts);
        assert_eq!(
            smi::split_of(&ts["spec"], &input),
            Some(split(70, 30, false))
        );
        assert_eq!(ts["spec"]["service"], "podinfo");
    }
    // v1alpha1 weights are quantities: strings in any quantity form are read as Flagger reads
    // them; an integer in v1alpha2 is refused by a string-typed reading of the schema.
    let plan = plan("podinfo-linkerd");
    let input = smi::input(&plan, SplitVersion::V1alpha1, "test").unwrap();
    let written = json!({"service": "podinfo", "backends": [
        {"service": "podinfo-canary", "weight": "25"}, {"service": "podinfo-primary", "weight": 75}]});
    assert_eq!(smi::split_of(&written, &input), Some(split(75, 25, false)));
    let v2 = schema("smi/trafficsplit-v1alpha2.schema.json");
    let bad = object(
        "split.smi-spec.io/v1alpha2",
        "TrafficSplit",
        "x",
        json!({"service": "x", "backends": [{"service": "y", "weight": "ten"}]}),
    );
    assert!(v2.iter_errors(&bad).next().is_some());
}

#[test]
fn validate_drives_the_mesh_providers_and_warns_where_flagger_ignores_a_field() {
    let loaded = load(&[Source {
        name: "canary-mesh.yaml".into(),
        text: specs("http://prometheus:9090"),
    }]);
    let text: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        !text.iter().any(|d| d.contains("not drive")),
        "istio, linkerd and smi are driven: {text:#?}"
    );
    // SMI has no A/B routing: Flagger's SMI routers never write matches.
    let ab = specs("http://prometheus:9090").replacen("provider: istio", "provider: linkerd", 2);
    let loaded = load(&[Source {
        name: "canary-mesh.yaml".into(),
        text: ab,
    }]);
    let text: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("analysis.match") && d.contains("linkerd")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|d| d.contains("service.retries") && d.contains("ignored by provider linkerd")),
        "{text:#?}"
    );
}
