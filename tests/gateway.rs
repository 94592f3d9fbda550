//! The Gateway API router: golden HTTPRoute renders checked against the Gateway API v1 CRD schema
//! (vendored under `fixtures/gateway-api/`), then the canary, A/B and blue/green-with-mirroring
//! rollouts end to end against the simulator, each promoted and rolled back, and a route whose
//! Gateway never accepts it.

use crate::cluster::Cluster;
use crate::support::root;
use canary_gate::rollout::{Plan, Routes};
use canary_gate::router::gateway_api::{self, render};
use canary_gate::spec::{Source, load};
use serde_json::{Value, json};

const ROUTE: &str = "gateway.networking.k8s.io/v1";

/// The HTTPRoute version a plan's provider writes.
fn api(plan: &Plan) -> &'static str {
    match plan.provider.as_str() {
        "gatewayapi:v1beta1" => gateway_api::V1BETA1,
        _ => gateway_api::V1,
    }
}

fn schema() -> jsonschema::Validator {
    schema_of("httproute-v1.schema.json")
}

/// A vendored HTTPRoute schema (`fixtures/gateway-api/`).
fn schema_of(file: &str) -> jsonschema::Validator {
    let path = root().join("fixtures/gateway-api").join(file);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// The route object is valid against the Gateway API v1 HTTPRoute schema.
fn assert_schema_valid(route: &Value) {
    assert_valid_against(&schema(), route);
}

fn assert_valid_against(v: &jsonschema::Validator, route: &Value) {
    let errors: Vec<String> = v
        .iter_errors(route)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{route:#}");
}

fn specs(metrics: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/k8s/canary-gateway.yaml"))
        .unwrap()
        .replace("METRICS", metrics)
}

/// The spec document of canary `name` from the fixture, alone.
fn spec_of(name: &str, metrics: &str) -> String {
    specs(metrics)
        .split("\n---\n")
        .find(|d| d.contains(&format!("metadata: {{name: {name}, ")))
        .unwrap()
        .to_string()
}

#[test]
fn httproute_renders_are_as_recorded_and_valid_against_the_v1_schema() {
    let loaded = load(&[Source {
        name: "canary-gateway.yaml".into(),
        text: specs("http://prometheus:9090"),
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    let split = |primary, canary, mirrored| Routes {
        primary,
        canary,
        mirrored,
    };
    let cases = [
        (
            "podinfo",
            "httproute-canary-start",
            split(100, 0, false),
            None,
        ),
        (
            "podinfo",
            "httproute-canary-sticky",
            split(80, 20, false),
            Some("canary-session=0123abcd"),
        ),
        ("podinfo-ab", "httproute-ab", split(0, 100, false), None),
        (
            "podinfo-bg",
            "httproute-bluegreen-mirror",
            split(100, 0, true),
            None,
        ),
    ];
    for (canary, golden, split, cookie) in cases {
        let c = loaded.canaries.iter().find(|c| c.name == canary).unwrap();
        let (plan, _) = Plan::new(c);
        let input = gateway_api::input(&plan, "test", api(&plan)).unwrap();
        let route = json!({
            "apiVersion": ROUTE, "kind": "HTTPRoute",
            "metadata": {"name": input.name, "namespace": "test"},
            "spec": render::spec(&input, split, cookie),
        });
        assert_schema_valid(&route);
        crate::golden::check(golden, &route);
        assert_eq!(
            render::split_of(&route["spec"], input.canary),
            Some(split),
            "{golden} reads back"
        );
    }
    // gatewayapi:v1beta1 is the same route under the older version.
    let v1beta1 =
        specs("http://prometheus:9090").replace("gatewayapi:v1\n", "gatewayapi:v1beta1\n");
    let loaded = load(&[Source {
        name: "canary-gateway.yaml".into(),
        text: v1beta1,
    }]);
    let (plan, _) = Plan::new(&loaded.canaries[0]);
    let input = gateway_api::input(&plan, "test", api(&plan)).unwrap();
    assert_eq!(input.api_version, "gateway.networking.k8s.io/v1beta1");
    // The schema is not a formality: a wrong type fails it.
    let mut bad = json!({"apiVersion": ROUTE, "kind": "HTTPRoute", "metadata": {"name": "x"},
        "spec": {"rules": [{"backendRefs": [{"name": "x", "port": 80, "weight": "ten"}]}]}});
    assert!(schema().iter_errors(&bad).next().is_some());
    bad["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(1_000_001);
    assert!(schema().iter_errors(&bad).next().is_some());
}

/// The plan of canary `name` in a spec text, and the text's diagnostics.
fn plan_of(text: &str, name: &str) -> (Plan, Vec<canary_gate::spec::Diagnostic>) {
    let loaded = load(&[Source {
        name: "canary-gateway.yaml".into(),
        text: text.to_string(),
    }]);
    let c = loaded.canaries.iter().find(|c| c.name == name).unwrap();
    (Plan::new(c).0, loaded.diagnostics)
}

#[test]
fn a_route_with_every_service_filter_is_as_recorded_and_valid_against_the_experimental_schema() {
    let text = specs("http://prometheus:9090");
    let (plan, _) = plan_of(&text, "podinfo-filters");
    let input = gateway_api::input(&plan, "test", api(&plan)).unwrap();
    let experimental = schema_of("httproute-v1-experimental.schema.json");
    let cases = [
        (
            "httproute-filters-start",
            Routes {
                primary: 100,
                canary: 0,
                mirrored: false,
            },
            None,
        ),
        (
            "httproute-filters-sticky",
            Routes {
                primary: 80,
                canary: 20,
                mirrored: false,
            },
            Some("canary-session=0123abcd"),
        ),
        (
            "httproute-filters-expired",
            Routes {
                primary: 100,
                canary: 0,
                mirrored: false,
            },
            Some("canary-session=0123abcd"),
        ),
    ];
    for (golden, split, cookie) in cases {
        let route = json!({
            "apiVersion": ROUTE, "kind": "HTTPRoute",
            "metadata": {"name": input.name, "namespace": "test"},
            "spec": render::spec(&input, split, cookie),
        });
        assert_valid_against(&experimental, &route);
        crate::golden::check(golden, &route);
        assert_eq!(
            render::split_of(&route["spec"], input.canary),
            Some(split),
            "{golden}"
        );
        assert_eq!(
            render::cookie_of(&route["spec"], input.canary).as_deref(),
            cookie,
            "{golden}"
        );
        // Every rule carries the service's filters, in Flagger's order; only the cookie-expiry
        // rule adds one (its Set-Cookie) after them.
        for rule in route["spec"]["rules"].as_array().unwrap() {
            let kinds: Vec<&str> = rule["filters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["type"].as_str().unwrap())
                .collect();
            let service = [
                "RequestHeaderModifier",
                "ResponseHeaderModifier",
                "URLRewrite",
                "RequestMirror",
                "CORS",
            ];
            assert_eq!(kinds[..5], service, "{golden}: {rule:#}");
            assert!(
                kinds[5..].iter().all(|k| *k == "ResponseHeaderModifier"),
                "{golden}: {rule:#}"
            );
        }
    }
    // The standard channel has no CORS filter: the same route fails its schema.
    let route = json!({"apiVersion": ROUTE, "kind": "HTTPRoute", "metadata": {"name": "podinfo"},
        "spec": render::spec(&input, Routes { primary: 100, canary: 0, mirrored: false }, None)});
    assert!(schema().iter_errors(&route).next().is_some());
    // gatewayapi:v1beta1 renders no CORS filter (and validate says so).
    let v1beta1 = text.replace("gatewayapi:v1\n", "gatewayapi:v1beta1\n");
    let (plan, diagnostics) = plan_of(&v1beta1, "podinfo-filters");
    let input = gateway_api::input(&plan, "test", api(&plan)).unwrap();
    let spec = render::spec(
        &input,
        Routes {
            primary: 100,
            canary: 0,
            mirrored: false,
        },
        None,
    );
    assert!(!spec.to_string().contains("\"CORS\""), "{spec:#}");
    assert!(
        diagnostics.iter().any(
            |d| d.message.contains("ignored by provider gatewayapi:v1beta1")
                && d.path.to_string().contains("corsPolicy")
        ),
        "{diagnostics:?}"
    );
}

/// The fixture app with a Gateway `public` in `test` (accepting routes unless `accept` is false).
fn app(accept: bool) -> Cluster {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let mut gateway = json!({"apiVersion": ROUTE, "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "test"},
        "spec": {"gatewayClassName": "sim", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}});
    if !accept {
        gateway["metadata"]["annotations"] = json!({canary_gate_sim::ACCEPT_ANNOTATION: "false"});
    }
    c.create(gateway);
    c
}

fn route(c: &Cluster) -> Value {
    c.get(ROUTE, "HTTPRoute", "podinfo")
}

/// The canary weights of the weighted rule, as `(primary, canary, mirrored)`.
fn split_now(c: &Cluster) -> Option<(u32, u32, bool)> {
    let r = c.find(ROUTE, "HTTPRoute", "podinfo")?;
    render::split_of(&r["spec"], "podinfo-canary").map(|s| (s.primary, s.canary, s.mirrored))
}

/// Runs `canary-gate run` while sampling the route every 20 ms: the exit code, stdout+stderr,
/// and each distinct split in order, with whether a sticky rule was present at that moment.
/// A split the route held, `(primary, canary, mirrored)`, and its number of rules then.
type Seen = ((u32, u32, bool), usize);

fn run_watching(c: &Cluster, spec: &str) -> (Option<i32>, String, Vec<Seen>) {
    let (r, seen) = c.run_sampling(spec, || {
        let r = c.find(ROUTE, "HTTPRoute", "podinfo")?;
        let s = render::split_of(&r["spec"], "podinfo-canary")?;
        let rules = r["spec"]["rules"].as_array().map_or(0, Vec::len);
        Some(((s.primary, s.canary, s.mirrored), rules))
    });
    (Some(r.code), format!("{}\n{}", r.stdout, r.stderr), seen)
}

fn release(c: &Cluster, tag: &str, error_rate: &str) {
    c.release(tag, error_rate);
}

fn primary_image(c: &Cluster) -> String {
    c.primary_image()
}

fn phase(c: &Cluster, canary: &str) -> String {
    c.state(canary)["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn splits(seen: &[Seen]) -> Vec<(u32, u32, bool)> {
    let mut out: Vec<(u32, u32, bool)> = Vec::new();
    for (s, _) in seen {
        if out.last() != Some(s) {
            out.push(*s);
        }
    }
    out
}

/// Takes the app over with `spec` and checks the route it wrote.
fn take_over(c: &Cluster, spec: &str) {
    let (code, out, _) = run_watching(c, spec);
    assert_eq!(code, Some(0), "{out}");
    let r = route(c);
    assert_schema_valid(&r);
    assert_eq!(split_now(c), Some((100, 0, false)));
    assert_eq!(r["status"]["parents"][0]["conditions"][0]["status"], "True");
}

#[test]
fn a_canary_on_an_httproute_promotes_a_good_release_and_rolls_back_a_bad_one() {
    let c = app(true);
    let metrics = c.sim.prometheus_url();
    let spec = spec_of("podinfo", &metrics);
    take_over(&c, &spec);

    // Another controller annotates the route: kept through every later write.
    c.merge_patch(
        ROUTE,
        "HTTPRoute",
        "podinfo",
        &json!({"metadata": {"annotations": {"example.com/audit": "kept"}}}),
    );
    release(&c, "6.7.1", "0");
    // `plan` shows the route, unchanged by the release, and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let file = Cluster::spec_file(&dir, &spec);
    let writes = c.writes().len();
    let plan = c.canary_gate(&["plan", "--canary", &file]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("httproute/podinfo"), "{}", plan.stdout);
    assert_eq!(c.writes().len(), writes, "plan writes nothing");
    let (code, out, seen) = run_watching(&c, &spec);
    assert_eq!(code, Some(0), "{out}");
    let weights: Vec<u32> = splits(&seen).iter().map(|s| s.1).collect();
    assert_eq!(weights, [0, 20, 40, 60, 0], "{seen:?}\n{out}");
    // While the canary shares traffic, a sticky rule pins its clients (three rules, not one).
    assert!(
        seen.iter()
            .any(|((_, w, _), rules)| *w == 20 && *rules == 2),
        "{seen:?}"
    );
    // Back at weight 0, one rule expires the cookie the canary's clients still carry.
    let (first, last) = (&seen[0], &seen[seen.len() - 1]);
    assert_eq!((first.0.1, first.1), (0, 1), "{seen:?}");
    assert_eq!((last.0.1, last.1), (0, 2), "{seen:?}");
    let expiry = &route(&c)["spec"]["rules"][0]["filters"][0]["responseHeaderModifier"]["add"][0];
    assert!(
        expiry["value"].as_str().unwrap().ends_with("; Max-Age=-1"),
        "{expiry}"
    );
    assert_eq!(phase(&c, "podinfo"), "Succeeded");
    assert!(primary_image(&c).ends_with(":6.7.1"));
    assert_schema_valid(&route(&c));
    assert_eq!(
        route(&c)["metadata"]["annotations"]["example.com/audit"],
        "kept"
    );

    release(&c, "6.7.2", "0.5");
    let (code, out, seen) = run_watching(&c, &spec);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(splits(&seen).last(), Some(&(100, 0, false)), "{seen:?}");
    // Halted early: the first analysis after a raise may see under a second of canary traffic
    // on a busy machine (a window too thin to fail), so one more step is tolerated.
    assert!(
        splits(&seen).iter().all(|s| s.1 <= 40),
        "halted at the first steps: {seen:?}"
    );
    assert_eq!(phase(&c, "podinfo"), "Failed");
    assert!(
        primary_image(&c).ends_with(":6.7.1"),
        "the primary keeps the good release"
    );
    assert!(out.contains("request-success-rate"), "{out}");
    let denied = crate::manifests::denied_by_the_role(&c);
    assert!(
        denied.is_empty(),
        "fixtures/rbac/role.yaml must allow: {denied:#?}"
    );
}

#[test]
fn an_ab_test_on_an_httproute_sends_only_matching_requests_to_the_canary() {
    let c = app(true);
    let metrics = c.sim.prometheus_url();
    let spec = spec_of("podinfo-ab", &metrics);
    take_over(&c, &spec);
    let r = route(&c);
    let rules = r["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "matched rule and primary-only fallback");
    assert_eq!(rules[0]["matches"][0]["headers"][0]["name"], "x-canary");
    assert_eq!(rules[0]["matches"][0]["path"]["value"], "/api");
    assert_eq!(rules[1]["backendRefs"].as_array().unwrap().len(), 1);

    release(&c, "6.7.1", "0");
    let (code, out, seen) = run_watching(&c, &spec);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        splits(&seen),
        [(100, 0, false), (0, 100, false), (100, 0, false)],
        "{seen:?}"
    );
    assert_eq!(phase(&c, "podinfo-ab"), "Succeeded");
    assert!(primary_image(&c).ends_with(":6.7.1"));

    release(&c, "6.7.2", "0.5");
    let (code, out, seen) = run_watching(&c, &spec);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(splits(&seen).last(), Some(&(100, 0, false)), "{seen:?}");
    assert_eq!(phase(&c, "podinfo-ab"), "Failed");
    assert!(primary_image(&c).ends_with(":6.7.1"));
}

#[test]
fn blue_green_on_an_httproute_mirrors_then_switches() {
    let c = app(true);
    let metrics = c.sim.prometheus_url();
    let spec = spec_of("podinfo-bg", &metrics);
    take_over(&c, &spec);

    release(&c, "6.7.1", "0");
    let (code, out, seen) = run_watching(&c, &spec);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        splits(&seen),
        [
            (100, 0, false),
            (100, 0, true),
            (0, 100, false),
            (100, 0, false)
        ],
        "{seen:?}"
    );
    let mirrored = route(&c);
    assert_schema_valid(&mirrored);
    assert_eq!(phase(&c, "podinfo-bg"), "Succeeded");
    assert!(primary_image(&c).ends_with(":6.7.1"));

    // Mirrored requests reach the canary pods: a bad release fails its checks on them alone.
    release(&c, "6.7.2", "0.5");
    let (code, out, seen) = run_watching(&c, &spec);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        splits(&seen).iter().all(|s| s.1 == 0),
        "no live traffic to the canary: {seen:?}"
    );
    assert_eq!(splits(&seen).last(), Some(&(100, 0, false)));
    assert_eq!(phase(&c, "podinfo-bg"), "Failed");
    assert!(primary_image(&c).ends_with(":6.7.1"));
}

#[test]
fn a_route_its_gateway_never_accepts_fails_naming_the_gateway_without_shifting_traffic() {
    let c = app(false);
    let metrics = c.sim.prometheus_url();
    let spec = spec_of("podinfo", &metrics)
        .replace("progressDeadlineSeconds: 60", "progressDeadlineSeconds: 10");
    let (code, out, _) = run_watching(&c, &spec);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("waiting for the route to be accepted"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("was not accepted within 10s"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("gateway test/public: Accepted=False (NotAllowedByListeners"),
        "{line}"
    );
    assert!(line.contains("traffic was not shifted"), "{line}");
    assert_eq!(split_now(&c), Some((100, 0, false)));
    let route_writes: Vec<String> = c
        .writes()
        .into_iter()
        .filter(|w| w.contains("/httproutes"))
        .collect();
    assert_eq!(
        route_writes.len(),
        1,
        "created once, never re-weighted: {route_writes:?}"
    );
    assert!(
        c.find("v1", "ConfigMap", "canary-gate.podinfo").is_none(),
        "not initialized"
    );
}

#[test]
fn a_route_canary_gate_does_not_own_is_refused_and_left_as_it_was() {
    let c = app(true);
    let theirs = json!({"apiVersion": ROUTE, "kind": "HTTPRoute",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"parentRefs": [{"name": "public"}], "rules": [{"backendRefs": [{"name": "podinfo", "port": 80}]}]}});
    c.create(theirs);
    let before = route(&c);
    c.sim.clear_requests();
    let metrics = c.sim.prometheus_url();
    let (code, out, _) = run_watching(&c, &spec_of("podinfo", &metrics));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(
            "httproute/podinfo in namespace test exists and is not managed by canary-gate"
        ),
        "{out}"
    );
    assert_eq!(
        route(&c)["spec"],
        before["spec"],
        "their route is untouched"
    );
    let writes = c.writes_but_the_lock();
    assert!(
        writes.is_empty(),
        "nothing written but the run lock: {writes:?}"
    );
}
