//! A core Service as the target (Flagger's `ServiceController`), driven end to end through the
//! binary with each driven router: `nginx`, `gatewayapi:v1` and `kubernetes`. Three
//! Deployments stand for three versions (blue, green, and a faulty red); a release points the
//! target Service's selector at the next one. A good release is promoted (the `-primary` copy
//! takes the target's selector), a faulty one rolled back (it keeps the last good one); the
//! objects are read back with kubectl.

use crate::canary::canary;
use crate::cluster::{Cluster, Lab, kubectl_run};
use crate::hooks::Hooks;
use canary_gate::router::gateway_api::render;
use serde_json::{Value, json};

const ROUTE: &str = "gateway.networking.k8s.io/v1";

/// The router a test drives.
#[derive(Clone, Copy, PartialEq)]
enum Router {
    Nginx,
    Gateway,
    Kubernetes,
}

/// A version of the app: a Deployment `backend-<track>` whose pods fail `error_rate` of their
/// requests.
fn version(c: &Cluster, track: &str, error_rate: &str) {
    let labels = json!({"app": "backend", "track": track});
    c.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("backend-{track}"), "namespace": "test"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels,
                    "annotations": {"canary-gate.dev/sim-error-rate": error_rate}},
                "spec": {"containers": [{"name": "podinfo", "image": format!("ghcr.io/stefanprodan/podinfo:{track}"),
                    "ports": [{"name": "http", "containerPort": 9898}]}]}}}}));
}

/// The three versions, the target Service on blue, and what the router needs in front.
fn app(router: Router) -> Cluster {
    let c = Cluster::new();
    for (track, errors) in [("blue", "0"), ("green", "0"), ("red", "0.5")] {
        version(&c, track, errors);
    }
    c.create(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "backend", "namespace": "test", "labels": {"team": "web"},
            "annotations": {"docs": "https://example.com/backend"}},
        "spec": {"selector": {"app": "backend", "track": "blue"},
            "ports": [{"name": "http", "port": 80, "targetPort": 9898}]}}));
    match router {
        Router::Nginx => {
            c.create(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "backend", "namespace": "test",
                    "annotations": {"canary-gate.dev/sim-rps": "200"}},
                "spec": {"ingressClassName": "nginx", "rules": [{"host": "backend.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "backend", "port": {"number": 80}}}}]}}]}}),
            );
        }
        Router::Gateway => {
            c.create(json!({"apiVersion": ROUTE, "kind": "Gateway",
                "metadata": {"name": "public", "namespace": "test"},
                "spec": {"gatewayClassName": "sim",
                    "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}));
        }
        Router::Kubernetes => {}
    }
    c
}

/// The Canary for `router`: canary steps of 20 up to 40 % (L7 routers) or two blue/green
/// iterations. NGINX is checked by the built-in success rate from its Ingress series; the others
/// by a rollout webhook at `hook` (the generic HTTP observer Flagger uses for Gateway API selects
/// pods by the target's name, and a Service target's pods are named after their Deployments).
fn spec(c: &Cluster, router: Router, hook: &str) -> String {
    let base = canary("backend")
        .service_target()
        .metrics_server(&c.sim.prometheus_url())
        .interval("1s")
        .threshold(2);
    let gated =
        |b: crate::canary::CanaryYaml| b.webhook(&format!("{{name: load, url: '{hook}/load'}}"));
    match router {
        Router::Nginx => base
            .nginx()
            .step_weight(20)
            .max_weight(40)
            .success_rate("5s", 99)
            .service("{port: 80}"),
        Router::Gateway => gated(base.provider("gatewayapi:v1").step_weight(20).max_weight(40)).service(
            "{port: 80, gatewayRefs: [{name: public}], apex: {annotations: {canary-gate.dev/sim-rps: '200'}}}",
        ),
        Router::Kubernetes => gated(base.kubernetes().iterations(2)).service("{port: 80}"),
    }
    .yaml()
}

/// Points the target Service at another version: the release.
fn release(c: &Cluster, track: &str) {
    c.merge_patch(
        "v1",
        "Service",
        "backend",
        &json!({"spec": {"selector": {"track": track}}}),
    );
}

/// `kubectl get <what> -o json`, parsed.
fn get(c: &Cluster, what: &str) -> Value {
    let text = kubectl_run(c, &["get", what, "-n", "test", "-o", "json"]);
    serde_json::from_str(&text).unwrap()
}

fn selector_track(c: &Cluster, service: &str) -> Value {
    get(c, &format!("service/{service}"))["spec"]["selector"]["track"].clone()
}

/// The canary's weight on the router's object (0 for `kubernetes`, which has none).
fn weight(c: &Cluster, router: Router) -> u64 {
    match router {
        Router::Nginx => get(c, "ingress/backend-canary")["metadata"]["annotations"]
            ["nginx.ingress.kubernetes.io/canary-weight"]
            .as_str()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0),
        Router::Gateway => {
            let route = get(c, "httproute/backend");
            render::split_of(&route["spec"], "backend-canary").map_or(0, |s| s.canary.into())
        }
        Router::Kubernetes => 0,
    }
}

/// Init, a good release promoted, a faulty one rolled back, each checked with kubectl.
fn promote_then_roll_back(router: Router) {
    let c = app(router);
    let hooks = Hooks::start();
    let text = spec(&c, router, &hooks.url);
    let lab = Lab::new(c, &text);
    let c = &lab.c;
    lab.init();
    for copy in ["backend-primary", "backend-canary"] {
        let s = get(c, &format!("service/{copy}"));
        assert_eq!(
            s["spec"]["selector"],
            json!({"app": "backend", "track": "blue"}),
            "{copy}"
        );
        assert_eq!(s["spec"]["ports"][0]["port"], 80, "{copy}");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 9898, "{copy}");
        assert_eq!(s["metadata"]["labels"]["team"], "web", "{copy}");
    }
    match router {
        Router::Nginx => {
            let i = get(c, "ingress/backend-canary");
            let backend = &i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
            assert_eq!(backend["name"], "backend-canary");
        }
        Router::Gateway => {
            let r = get(c, "httproute/backend");
            let names: Vec<&str> = r["spec"]["rules"][0]["backendRefs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["backend-primary", "backend-canary"]);
        }
        Router::Kubernetes => {}
    }
    assert_eq!(weight(c, router), 0);

    release(c, "green");
    let r = lab.cmd(&["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(lab.c.state("backend")["phase"], "Succeeded", "{}", r.stdout);
    if router != Router::Kubernetes {
        assert!(r.stdout.contains("canary weight 40%"), "{}", r.stdout);
    }
    assert_eq!(selector_track(c, "backend-primary"), "green");
    assert_eq!(selector_track(c, "backend-canary"), "green");
    assert_eq!(weight(c, router), 0);
    // Promotion copies the spec; of the target's labels and annotations, only those
    // --include-label-prefix admits (none by default), as Flagger's Promote.
    let primary = get(c, "service/backend-primary");
    assert!(
        primary["metadata"]["labels"].get("team").is_none(),
        "{primary:#}"
    );

    release(c, "red");
    hooks.answer("/load", 500);
    let r = lab.cmd(&["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(lab.c.state("backend")["phase"], "Failed", "{}", r.stdout);
    assert_eq!(
        selector_track(c, "backend-primary"),
        "green",
        "the last good version stays"
    );
    assert_eq!(selector_track(c, "backend-canary"), "red");
    assert_eq!(weight(c, router), 0);
    let why = match router {
        Router::Nginx => "request-success-rate",
        _ => "load",
    };
    assert!(r.stdout.contains(why), "{}", r.stdout);
}

#[test]
fn a_service_target_behind_nginx_is_promoted_then_rolled_back() {
    promote_then_roll_back(Router::Nginx);
}

#[test]
fn a_service_target_behind_an_httproute_is_promoted_then_rolled_back() {
    promote_then_roll_back(Router::Gateway);
}

#[test]
fn a_service_target_with_plain_kubernetes_services_is_promoted_then_rolled_back() {
    promote_then_roll_back(Router::Kubernetes);
}
