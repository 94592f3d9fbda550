//! The deployment controller: convergence after `ready_after`, never-ready pods, pods for
//! selectors.

use crate::support::{deployment, http, http_as, poll};
use canary_gate_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::time::Duration;

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
