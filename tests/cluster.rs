//! A simulated cluster for the command tests: the simulator, the fixture app, and the binary run
//! against the simulator's kubeconfig.

use crate::support::{Run, canary_gate, root, run};
use canary_gate_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use std::time::Duration;

pub struct Cluster {
    pub sim: SimHandle,
}

impl Cluster {
    /// A simulator whose Deployments become ready 200 ms after a change.
    pub fn new() -> Cluster {
        Cluster::with_token(None)
    }

    /// The same, requiring this bearer token (its kubeconfig carries it).
    pub fn with_token(token: Option<&str>) -> Cluster {
        let sim = Sim::start(SimConfig {
            ready_after: Duration::from_millis(200),
            rps: 50.0,
            token: token.map(String::from),
            ..SimConfig::default()
        })
        .expect("simulator starts");
        let c = Cluster { sim };
        c.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}));
        c
    }

    /// Creates one object.
    pub fn create(&self, obj: Value) -> Value {
        self.sim
            .create(obj.clone())
            .unwrap_or_else(|e| panic!("creating {obj}: {e}"))
    }

    /// Creates every document of a YAML text, `edit` applied to each first.
    pub fn apply_yaml(&self, text: &str, edit: impl Fn(&mut Value)) {
        for mut doc in serde_saphyr::from_multiple::<Value>(text).expect("fixture YAML") {
            if doc.is_null() {
                continue;
            }
            edit(&mut doc);
            self.create(doc);
        }
    }

    /// The fixture app (fixtures/k8s/podinfo.yaml), `edit` applied to each object.
    pub fn podinfo(&self, edit: impl Fn(&mut Value)) {
        let text = std::fs::read_to_string(root().join("fixtures/k8s/podinfo.yaml")).unwrap();
        self.apply_yaml(&text, edit);
    }

    /// Patches a Deployment in `test` directly in the store, as a release would change it.
    pub fn patch_deployment(&self, name: &str, patch: &Value) {
        self.sim.with_state(|s| {
            let res = canary_gate_sim::resources::by_kind("apps/v1", "Deployment").unwrap();
            s.store
                .patch(
                    res,
                    "test",
                    name,
                    canary_gate_sim::store::PatchKind::Strategic,
                    patch,
                    canary_gate_sim::store::Part::Main,
                )
                .unwrap();
        });
    }

    /// The fixture app without its HPA (renamed out of the way) and with 200 requests/s through
    /// its Ingress, for tests that measure the canary.
    pub fn podinfo_with_traffic(&self) {
        self.podinfo(|o| {
            if o["kind"] == "HorizontalPodAutoscaler" {
                o["metadata"]["name"] = json!("unrelated");
            }
            if o["kind"] == "Ingress" {
                o["metadata"]["annotations"] = json!({"canary-gate.dev/sim-rps": "200"});
            }
        });
    }

    /// An object that must exist.
    pub fn get(&self, api_version: &str, kind: &str, name: &str) -> Value {
        self.sim
            .get(api_version, kind, "test", name)
            .unwrap_or_else(|| panic!("{kind} test/{name} exists"))
    }

    /// An object that may exist.
    pub fn find(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        self.sim.get(api_version, kind, "test", name)
    }

    /// `canary-gate <args> --kubeconfig <sim>`.
    pub fn canary_gate(&self, args: &[&str]) -> Run {
        run(canary_gate()
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.sim.kubeconfig))
    }

    /// `canary-gate init` for a spec file (relative to the repository).
    pub fn init(&self, spec: &str, extra: &[&str]) -> Run {
        let mut args = vec!["init", "--canary", spec];
        args.extend_from_slice(extra);
        self.canary_gate(&args)
    }

    /// Writes a spec to a temporary file and returns its path.
    pub fn spec_file(dir: &tempfile::TempDir, text: &str) -> String {
        let path = dir.path().join("canary.yaml");
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Non-GET requests in the log, as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.sim
            .requests()
            .into_iter()
            .filter(|e| e.method != "GET")
            .map(|e| format!("{} {}", e.method, e.path))
            .collect()
    }
}

/// The fixture canary's text with `from` replaced by `to`.
pub fn canary_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(root().join("fixtures/k8s/canary.yaml")).unwrap();
    assert!(text.contains(from), "{from:?} not in the fixture canary");
    text.replace(from, to)
}

/// A Canary for `name` (target, Service and Ingress all named so) with one built-in check on
/// `metrics`, one 50% step and a 1 s interval: the quickest full rollout.
pub fn fast_canary(name: &str, metrics: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: {name}, namespace: test}}
spec:
  provider: nginx
  metricsServer: {metrics}
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: {name}}}
  service: {{port: 80, targetPort: 9898}}
  analysis:
    interval: 1s
    threshold: 2
    stepWeight: 50
    maxWeight: 50
    metrics:
      - name: request-success-rate
        interval: 5s
        thresholdRange: {{min: 99}}
"
    )
}
