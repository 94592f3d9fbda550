//! The mesh kinds on a real kube-apiserver: the Istio and SMI CRDs are installed, accept
//! well-formed objects in every served version and reject malformed ones; the mirror holds each
//! object once whatever the version; and the mesh data plane counts real pods under their
//! Deployments' names. Runs on the shared cluster (`CANARY_SIM_CLUSTER`) or a private one.

use crate::support::{poll, required};
use canary_gate_sim::resources::by_kind;
use canary_gate_sim::selector::Selector;
use canary_gate_sim::{Backend, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn real_sim() -> Option<SimHandle> {
    let cluster = std::env::var_os("CANARY_SIM_CLUSTER").map(PathBuf::from);
    let started = Sim::start(SimConfig {
        ready_after: Duration::from_millis(200),
        rps: 100.0,
        backend: Backend::Kube { cluster },
        ..SimConfig::default()
    });
    match started {
        Ok(sim) => Some(sim),
        Err(e) if !required("kube") => {
            eprintln!("skipped: no real cluster here ({e})");
            None
        }
        Err(e) => panic!("the real cluster is required here: {e}"),
    }
}

fn split(version: &str, name: &str, backends: Value, extra: Value) -> Value {
    let mut spec = json!({"service": "podinfo", "backends": backends});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": format!("split.smi-spec.io/{version}"), "kind": "TrafficSplit",
           "metadata": {"name": name, "namespace": "test"}, "spec": spec})
}

fn rejected(sim: &SimHandle, obj: Value) {
    let what = obj["metadata"]["name"].clone();
    match sim.create(obj) {
        Err(e) => assert_eq!(e.code, 422, "{what}: {e:?}"),
        Ok(v) => panic!("{what} was accepted: {v}"),
    }
}

fn created(sim: &SimHandle, obj: Value) {
    let what = obj["metadata"]["name"].clone();
    if let Err(e) = sim.create(obj) {
        panic!("{what}: {e:?}");
    }
}

fn deployment(name: &str, annotations: Value) -> Value {
    let mut d = crate::support::deployment("test", name, name, 1, annotations);
    d["metadata"]["namespace"] = json!("test");
    d
}

fn service(name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "test"},
           "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 9898}]}})
}

#[test]
fn mesh_crds_validate_and_mirror_once_on_a_real_apiserver() {
    let Some(sim) = real_sim() else { return };
    created(
        &sim,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}),
    );
    let ints = json!([{"service": "podinfo-primary", "weight": 90},
                      {"service": "podinfo-canary", "weight": 10}]);
    created(
        &sim,
        split(
            "v1alpha1",
            "quantities",
            json!([{"service": "podinfo-primary", "weight": "500m"},
                   {"service": "podinfo-canary", "weight": "500m"}]),
            json!({}),
        ),
    );
    created(&sim, split("v1alpha2", "integers", ints.clone(), json!({})));
    let matches = json!({"matches": [{"kind": "HTTPRouteGroup", "name": "podinfo"}]});
    created(&sim, split("v1alpha3", "matches", ints.clone(), matches));
    let vs = json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"hosts": ["podinfo"], "http": [{"route": [
            {"destination": {"host": "podinfo-primary"}, "weight": 50},
            {"destination": {"host": "podinfo-canary"}, "weight": 50}]}]}});
    created(&sim, vs.clone());
    for suffix in ["primary", "canary"] {
        created(
            &sim,
            json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
                   "metadata": {"name": format!("podinfo-{suffix}"), "namespace": "test"},
                   "spec": {"host": format!("podinfo-{suffix}"), "trafficPolicy": {"tls": {"mode": "DISABLE"}}}}),
        );
    }

    // Malformed objects: the CRDs' schemas say no.
    let strings = json!([{"service": "podinfo-primary", "weight": "90"}]);
    rejected(
        &sim,
        split("v1alpha2", "string-weight", strings.clone(), json!({})),
    );
    rejected(
        &sim,
        split("v1alpha3", "string-weight-3", strings, json!({})),
    );
    rejected(
        &sim,
        split(
            "v1alpha1",
            "not-a-quantity",
            json!([{"service": "podinfo-primary", "weight": "ninety"}]),
            json!({}),
        ),
    );
    rejected(
        &sim,
        split(
            "v1alpha3",
            "no-match-name",
            ints,
            json!({"matches": [{"kind": "HTTPRouteGroup"}]}),
        ),
    );
    let mut bad_vs = vs.clone();
    bad_vs["metadata"]["name"] = json!("bad-weight");
    bad_vs["spec"]["http"][0]["route"][0]["weight"] = json!("fifty");
    rejected(&sim, bad_vs);
    rejected(
        &sim,
        json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
               "metadata": {"name": "bad-host", "namespace": "test"}, "spec": {"host": 42}}),
    );

    // Every version serves the three splits, as written (no conversion).
    for version in ["v1alpha1", "v1alpha2", "v1alpha3"] {
        let api_version = format!("split.smi-spec.io/{version}");
        let items = sim.list(&api_version, "TrafficSplit", "test");
        let names: Vec<&str> = items
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["integers", "matches", "quantities"], "{version}");
        let got = sim
            .get(&api_version, "TrafficSplit", "test", "quantities")
            .unwrap();
        assert_eq!(got["spec"]["backends"][0]["weight"], "500m", "{version}");
    }

    // The mirror holds each object once, whichever version is asked.
    let none = Selector::default();
    let mirrored = |api_version: &str, kind: &str| {
        let res = by_kind(api_version, kind).unwrap();
        sim.with_state(|s| s.store.list_items(res, Some("test"), &none, &none).len())
    };
    let settled = poll(Duration::from_secs(30), || {
        (mirrored("split.smi-spec.io/v1alpha3", "TrafficSplit") == 3
            && mirrored("networking.istio.io/v1beta1", "DestinationRule") == 2)
            .then_some(())
    });
    assert!(settled.is_some(), "the mirror has the splits and rules");
    for version in ["v1alpha1", "v1alpha2", "v1alpha3"] {
        let api_version = format!("split.smi-spec.io/{version}");
        assert_eq!(mirrored(&api_version, "TrafficSplit"), 3, "{version}");
    }
    assert_eq!(mirrored("networking.istio.io/v1beta1", "VirtualService"), 1);

    // Real pods answer the mesh's traffic under their Deployments' names.
    created(&sim, deployment("podinfo-primary", json!({})));
    created(
        &sim,
        deployment("podinfo", json!({"canary-gate.dev/sim-error-rate": "0.5"})),
    );
    created(&sim, service("podinfo-primary", "podinfo-primary"));
    created(&sim, service("podinfo-canary", "podinfo"));
    let counted = poll(Duration::from_secs(90), || {
        sim.with_state(|s| {
            let istio: u64 = s.dataplane.istio_requests("test", "podinfo").values().sum();
            let linkerd = s.dataplane.linkerd_responses("test", "podinfo");
            let failures: u64 = linkerd
                .iter()
                .filter(|((class, _), _)| class == "failure")
                .map(|(_, n)| n)
                .sum();
            (istio > 20 && failures > 20).then_some((istio, failures))
        })
    });
    assert!(
        counted.is_some(),
        "the canary's pods answer Istio and Linkerd traffic as podinfo"
    );
}
