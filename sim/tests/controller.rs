//! The deployment controller: convergence after `ready_after`, never-ready pods, pods for
//! selectors.

use crate::support::{deployment, gateway, http, http_as, poll};
use canary_gate_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn get(url: &str) -> Value {
    let (code, body) = http("GET", url, None);
    assert_eq!(code, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn setup() -> canary_gate_sim::SimHandle {
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .unwrap();
    let (code, _) = http(
        "POST",
        &format!("{}/api/v1/namespaces", sim.api_url),
        Some(r#"{"metadata":{"name":"test"}}"#),
    );
    assert_eq!(code, 201);
    sim
}

/// Deployments and Services `<app>-svc` for each app in namespace `test`.
fn versions(api: &str, apps: &[&str]) {
    let deps = format!("{api}/apis/apps/v1/namespaces/test/deployments");
    let svcs = format!("{api}/api/v1/namespaces/test/services");
    for app in apps {
        assert_eq!(
            http(
                "POST",
                &deps,
                Some(&deployment("test", app, app, 1, json!({})).to_string())
            )
            .0,
            201
        );
        let svc = json!({"metadata": {"name": format!("{app}-svc")}, "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}});
        assert_eq!(http("POST", &svcs, Some(&svc.to_string())).0, 201);
    }
}

/// The Gateway `gateways/public` (and its namespace) the routes in these tests attach to.
fn public_gateway(sim: &canary_gate_sim::SimHandle) {
    sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gateways"}}))
        .unwrap();
    sim.create(gateway("gateways", "public", json!({})))
        .unwrap();
}

fn condition<'a>(dep: &'a Value, kind: &str) -> Option<&'a Value> {
    dep["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[test]
fn a_new_deployment_becomes_available_and_its_pods_match_selectors() {
    let sim = setup();
    let url = format!("{}/apis/apps/v1/namespaces/test/deployments", sim.api_url);
    let body = deployment("test", "podinfo", "podinfo", 3, json!({})).to_string();
    assert_eq!(http("POST", &url, Some(&body)).0, 201);
    let ready = poll(Duration::from_secs(10), || {
        let d = get(&format!("{url}/podinfo"));
        (d["status"]["availableReplicas"] == 3).then_some(d)
    })
    .expect("available within 10 s");
    assert_eq!(ready["status"]["observedGeneration"], 1);
    assert_eq!(ready["status"]["updatedReplicas"], 3);
    assert_eq!(condition(&ready, "Available").unwrap()["status"], "True");
    let pods = get(&format!(
        "{}/api/v1/namespaces/test/pods?labelSelector=app%3Dpodinfo",
        sim.api_url
    ));
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|p| p["status"]["phase"] == "Running"));

    // Scaling to zero converges to zero.
    let (code, body) = http("PATCH", &format!("{url}/podinfo"), Some("{}"));
    assert_eq!(code, 415, "a PATCH needs a patch content type: {body}");
    let (code, body) = http_as(
        "PATCH",
        &format!("{url}/podinfo/scale"),
        "application/merge-patch+json",
        Some(r#"{"spec":{"replicas":0}}"#),
    );
    assert_eq!(code, 200, "{body}");
    poll(Duration::from_secs(10), || {
        let d = get(&format!("{url}/podinfo"));
        let pods = get(&format!("{}/api/v1/namespaces/test/pods", sim.api_url));
        (d["status"]["replicas"].is_null() && pods["items"].as_array().is_some_and(Vec::is_empty))
            .then_some(())
    })
    .expect("scaled to zero within 10 s");
}

#[test]
fn a_never_ready_deployment_exceeds_its_progress_deadline() {
    let sim = setup();
    let url = format!("{}/apis/apps/v1/namespaces/test/deployments", sim.api_url);
    let mut dep = deployment(
        "test",
        "broken",
        "broken",
        1,
        json!({"canary-gate.dev/sim-ready": "false"}),
    );
    dep["spec"]["progressDeadlineSeconds"] = json!(2);
    assert_eq!(http("POST", &url, Some(&dep.to_string())).0, 201);
    let waiting = poll(Duration::from_secs(2), || {
        let d = get(&format!("{url}/broken"));
        condition(&d, "Available")
            .map(|c| c["reason"] == "MinimumReplicasUnavailable")
            .filter(|b| *b)
            .map(|_| d)
    })
    .expect("Available=False/MinimumReplicasUnavailable while starting");
    assert_eq!(
        condition(&waiting, "Progressing").unwrap()["status"],
        "True"
    );
    let stuck = poll(Duration::from_secs(8), || {
        let d = get(&format!("{url}/broken"));
        condition(&d, "Progressing")
            .filter(|c| c["reason"] == "ProgressDeadlineExceeded")
            .map(|_| d.clone())
    })
    .expect("ProgressDeadlineExceeded after the deadline");
    assert_eq!(condition(&stuck, "Progressing").unwrap()["status"], "False");
    assert_eq!(condition(&stuck, "Available").unwrap()["status"], "False");
    assert!(
        stuck["status"]["availableReplicas"].is_null(),
        "no pod ever became available"
    );
}

#[test]
fn httproutes_are_accepted_and_split_by_backend_weight() {
    let sim = setup();
    let api = sim.api_url.clone();
    versions(&api, &["web-primary", "web"]);
    let route = json!({
        "metadata": {"name": "web", "annotations": {"canary-gate.dev/sim-rps": "1000"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "rules": [{"backendRefs": [
                {"name": "web-primary-svc", "port": 80, "weight": 70},
                {"name": "web-svc", "port": 80, "weight": 30}
            ]}]
        }
    });
    public_gateway(&sim);
    let routes = format!("{api}/apis/gateway.networking.k8s.io/v1/namespaces/test/httproutes");
    assert_eq!(http("POST", &routes, Some(&route.to_string())).0, 201);
    let accepted = poll(Duration::from_secs(5), || {
        let r = get(&format!("{routes}/web"));
        let c = r["status"]["parents"][0]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Accepted")?
            .clone();
        (c["status"] == "True" && c["observedGeneration"] == r["metadata"]["generation"])
            .then_some(c)
    });
    assert!(
        accepted.is_some(),
        "the route is accepted for its parent at its generation"
    );
    let counts = poll(Duration::from_secs(10), || {
        let (primary, canary) = sim.with_state(|s| {
            (
                s.dataplane
                    .app_requests("test", "web-primary-")
                    .values()
                    .sum::<u64>(),
                s.dataplane
                    .app_requests("test", "web-")
                    .values()
                    .sum::<u64>(),
            )
        });
        (primary >= 700).then_some((primary, canary - primary))
    })
    .expect("traffic reaches both versions");
    let share = counts.1 as f64 / (counts.0 + counts.1) as f64;
    assert!(
        (0.28..=0.32).contains(&share),
        "canary share {share} (weight 30 of 100), counts {counts:?}"
    );
    let metrics = crate::support::http("GET", &sim.metrics_url, None).1;
    assert!(metrics.contains("http_request_duration_seconds_count{kubernetes_namespace=\"test\",kubernetes_pod_name=\"web-"), "pods export their own series");
}

#[test]
fn a_header_canary_gets_the_share_of_requests_that_carry_the_header() {
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(100),
        header_share: 0.25,
        ..SimConfig::default()
    })
    .unwrap();
    let api = sim.api_url.clone();
    assert_eq!(
        http(
            "POST",
            &format!("{api}/api/v1/namespaces"),
            Some(r#"{"metadata":{"name":"test"}}"#)
        )
        .0,
        201
    );
    versions(&api, &["app-primary", "app"]);
    let ingress = |name: &str, svc: &str, annotations: serde_json::Value| {
        json!({"metadata": {"name": name, "annotations": annotations},
               "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}})
        .to_string()
    };
    let ings = format!("{api}/apis/networking.k8s.io/v1/namespaces/test/ingresses");
    assert_eq!(
        http(
            "POST",
            &ings,
            Some(&ingress(
                "app",
                "app-primary-svc",
                json!({"canary-gate.dev/sim-rps": "1000"})
            ))
        )
        .0,
        201
    );
    let canary = json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "0",
                        "nginx.ingress.kubernetes.io/canary-by-header": "x-canary"});
    assert_eq!(
        http(
            "POST",
            &ings,
            Some(&ingress("app-canary", "app-svc", canary))
        )
        .0,
        201
    );
    let (primary, canary) = poll(Duration::from_secs(10), || {
        let (p, all) = sim.with_state(|s| {
            (
                s.dataplane
                    .app_requests("test", "app-primary-")
                    .values()
                    .sum::<u64>(),
                s.dataplane
                    .app_requests("test", "app-")
                    .values()
                    .sum::<u64>(),
            )
        });
        (p >= 1500).then_some((p, all - p))
    })
    .expect("traffic flows");
    let share = canary as f64 / (primary + canary) as f64;
    assert!(
        (0.23..=0.27).contains(&share),
        "header share {share}, counts {primary}/{canary}"
    );
}

/// Runs the controllers and traffic once now (the ticker runs too; this makes a check
/// deterministic).
fn tick(sim: &canary_gate_sim::SimHandle) {
    sim.with_state(|s| s.tick(Instant::now()));
}

/// The route's status entry for a parentRef, if any.
fn parent_status(route: &Value, parent_ref: &Value) -> Option<Value> {
    route["status"]["parents"]
        .as_array()?
        .iter()
        .find(|p| p["parentRef"] == *parent_ref)
        .cloned()
}

#[test]
fn httproute_acceptance_follows_the_parent_gateways() {
    let sim = setup();
    let api = sim.api_url.clone();
    sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gateways"}}))
        .unwrap();
    let public = json!({"name": "public", "namespace": "gateways", "sectionName": "http"});
    // No namespace: the route's own (`test`).
    let edge = json!({"name": "edge"});
    let route = json!({
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [public, edge],
            "rules": [{"backendRefs": [{"name": "web-svc", "port": 80}]}]
        }
    });
    let routes = format!("{api}/apis/gateway.networking.k8s.io/v1/namespaces/test/httproutes");
    assert_eq!(http("POST", &routes, Some(&route.to_string())).0, 201);
    tick(&sim);
    let r = get(&format!("{routes}/web"));
    assert!(
        r["status"]["parents"]
            .as_array()
            .is_none_or(|p| p.is_empty()),
        "no Gateway, no controller reports: {}",
        r["status"]
    );

    // A Gateway that refuses the route.
    sim.create(gateway(
        "gateways",
        "public",
        json!({canary_gate_sim::ACCEPT_ANNOTATION: "false"}),
    ))
    .unwrap();
    tick(&sim);
    let r = get(&format!("{routes}/web"));
    assert_eq!(r["status"]["parents"].as_array().map(Vec::len), Some(1));
    let entry = parent_status(&r, &public).expect("an entry for the existing Gateway");
    assert_eq!(entry["controllerName"], "canary-gate.dev/canary-sim");
    let accepted = &entry["conditions"][0];
    assert_eq!(accepted["type"], "Accepted");
    assert_eq!(accepted["status"], "False");
    assert_eq!(accepted["reason"], "NotAllowedByListeners");
    assert_eq!(
        accepted["message"],
        "listener does not allow routes from namespace test"
    );
    assert_eq!(accepted["observedGeneration"], 1);
    assert!(
        parent_status(&r, &edge).is_none(),
        "edge has no Gateway yet"
    );

    // The Gateway the second parentRef names, in the route's namespace, accepts it.
    sim.create(gateway("test", "edge", json!({}))).unwrap();
    tick(&sim);
    let r = get(&format!("{routes}/web"));
    let entry = parent_status(&r, &edge).expect("an entry for test/edge");
    assert_eq!(entry["conditions"][0]["status"], "True");
    assert_eq!(entry["conditions"][1]["type"], "ResolvedRefs");
    assert_eq!(entry["conditions"][1]["status"], "True");

    // Status is written only when it changes.
    let rv = r["metadata"]["resourceVersion"].clone();
    tick(&sim);
    tick(&sim);
    assert_eq!(
        get(&format!("{routes}/web"))["metadata"]["resourceVersion"],
        rv
    );

    // A spec change: still refused, now at generation 2.
    let (code, body) = http_as(
        "PATCH",
        &format!("{routes}/web"),
        "application/merge-patch+json",
        Some(r#"{"spec":{"rules":[{"backendRefs":[{"name":"web-svc","port":8080}]}]}}"#),
    );
    assert_eq!(code, 200, "{body}");
    tick(&sim);
    let r = get(&format!("{routes}/web"));
    assert_eq!(r["metadata"]["generation"], 2);
    let refused = parent_status(&r, &public).expect("still reported");
    assert_eq!(refused["conditions"][0]["status"], "False");
    assert_eq!(refused["conditions"][0]["observedGeneration"], 2);

    // Without the annotation the Gateway accepts the route at its current generation.
    let (code, body) = http_as(
        "PATCH",
        &format!("{api}/apis/gateway.networking.k8s.io/v1/namespaces/gateways/gateways/public"),
        "application/merge-patch+json",
        Some(r#"{"metadata":{"annotations":{"canary-gate.dev/sim-accept":null}}}"#),
    );
    assert_eq!(code, 200, "{body}");
    tick(&sim);
    let r = get(&format!("{routes}/web"));
    let accepted = parent_status(&r, &public).expect("still reported");
    assert_eq!(accepted["parentRef"], public, "the parentRef as written");
    assert_eq!(accepted["conditions"][0]["type"], "Accepted");
    assert_eq!(accepted["conditions"][0]["status"], "True");
    assert_eq!(accepted["conditions"][0]["observedGeneration"], 2);
    assert_eq!(accepted["conditions"][1]["observedGeneration"], 2);

    // Deleting a Gateway removes its entry.
    let (code, _) = http(
        "DELETE",
        &format!("{api}/apis/gateway.networking.k8s.io/v1/namespaces/test/gateways/edge"),
        None,
    );
    assert_eq!(code, 200);
    tick(&sim);
    let r = get(&format!("{routes}/web"));
    assert!(parent_status(&r, &edge).is_none());
    assert_eq!(r["status"]["parents"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_request_mirror_filter_copies_requests_to_the_mirror_service() {
    let sim = setup();
    let api = sim.api_url.clone();
    versions(&api, &["web-primary", "web"]);
    public_gateway(&sim);
    let route = |mirror: Value| {
        json!({
            "metadata": {"name": "web", "annotations": {"canary-gate.dev/sim-rps": "1000"}},
            "spec": {
                "parentRefs": [{"name": "public", "namespace": "gateways"}],
                "rules": [{
                    "backendRefs": [
                        {"name": "web-primary-svc", "port": 80, "weight": 100},
                        {"name": "web-svc", "port": 80, "weight": 0}
                    ],
                    "filters": [{"type": "RequestMirror", "requestMirror": mirror}]
                }]
            }
        })
    };
    let routes = format!("{api}/apis/gateway.networking.k8s.io/v1/namespaces/test/httproutes");
    let body = route(json!({"backendRef": {"name": "web-svc", "port": 80}}));
    assert_eq!(http("POST", &routes, Some(&body.to_string())).0, 201);
    let counts = || {
        sim.with_state(|s| {
            let primary: u64 = s
                .dataplane
                .app_requests("test", "web-primary-")
                .values()
                .sum();
            let all: u64 = s.dataplane.app_requests("test", "web-").values().sum();
            (primary, all - primary)
        })
    };
    // Requests served from now on, once both versions are ready (the mirror's first requests
    // may find no ready pod yet).
    let next = |requests: u64| {
        poll(Duration::from_secs(10), || {
            let (p, m) = counts();
            (p > 0 && m > 0).then_some(())
        })
        .expect("both versions get requests");
        let (p0, m0) = counts();
        poll(Duration::from_secs(10), || {
            let (p, m) = counts();
            (p >= p0 + requests).then_some((p - p0, m - m0))
        })
        .expect("traffic keeps flowing")
    };
    let (primary, mirrored) = next(1000);
    // The primary has every request (weight 100 of 100) and the mirror a copy of each.
    let share = mirrored as f64 / primary as f64;
    assert!(
        (0.98..=1.02).contains(&share),
        "mirror {mirrored} of primary {primary}"
    );
    let metrics = http("GET", &sim.metrics_url, None).1;
    assert!(
        !metrics.contains("nginx_ingress_controller_requests{"),
        "mirrored requests have no ingress-nginx series"
    );

    // A fraction mirrors that share of the requests.
    let mut body = get(&format!("{routes}/web"));
    body["spec"] = route(json!({"backendRef": {"name": "web-svc", "port": 80},
                                "fraction": {"numerator": 1, "denominator": 4}}))["spec"]
        .clone();
    let (code, text) = http("PUT", &format!("{routes}/web"), Some(&body.to_string()));
    assert_eq!(code, 200, "{text}");
    let (primary, mirrored) = next(2000);
    let share = mirrored as f64 / primary as f64;
    assert!(
        (0.22..=0.28).contains(&share),
        "mirror {mirrored} of primary {primary} (fraction 1/4)"
    );
}
