//! A simulated cluster for the command tests: the simulator, the fixture app, and the binary run
//! against the simulator's kubeconfig.

use crate::canary::canary;
use crate::support::{Run, canary_gate, root, run};
use canary_gate_sim::store::PatchKind;
use canary_gate_sim::{Backend, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use std::time::Duration;

pub struct Cluster {
    pub sim: SimHandle,
}

/// The test back end's settings: Deployments ready 200 ms after a change, the back end from
/// `CANARY_SIM_BACKEND` (the simulator, or a real apiserver: CI runs the real one), requiring
/// `token` when given.
pub fn config(token: Option<&str>) -> SimConfig {
    SimConfig {
        ready_after: Duration::from_millis(200),
        token: token.map(String::from),
        backend: Backend::from_env().unwrap_or_else(|e| panic!("{e}")),
        ..SimConfig::default()
    }
}

impl Cluster {
    /// A simulator whose Deployments become ready 200 ms after a change.
    pub fn new() -> Cluster {
        Cluster::with_token(None)
    }

    /// The same, requiring this bearer token (its kubeconfig carries it).
    pub fn with_token(token: Option<&str>) -> Cluster {
        let sim = Sim::start(SimConfig {
            rps: 50.0,
            ..config(token)
        })
        .unwrap_or_else(|e| panic!("the cluster starts: {e}"));
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
        self.sim
            .patch(
                "apps/v1",
                "Deployment",
                "test",
                name,
                PatchKind::Strategic,
                patch,
            )
            .unwrap();
    }

    /// A JSON merge patch on object `name` in `test`.
    pub fn merge_patch(&self, api_version: &str, kind: &str, name: &str, patch: &Value) {
        self.sim
            .patch(api_version, kind, "test", name, PatchKind::Merge, patch)
            .unwrap_or_else(|e| panic!("patching {kind}/{name}: {e:?}"));
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

    /// The fixture app without its HPA and with its NGINX Ingress silent, for a router whose
    /// traffic enters through objects of its own.
    pub fn podinfo_behind_another_router(&self) {
        self.podinfo(|o| {
            if o["kind"] == "HorizontalPodAutoscaler" {
                o["metadata"]["name"] = json!("unrelated");
            }
            if o["kind"] == "Ingress" {
                o["metadata"]["annotations"] = json!({"canary-gate.dev/sim-rps": "0"});
            }
        });
    }

    /// The router tests' release cycle on a spec stepping 20 up to 60: a good release 6.7.1
    /// promoted through canary weights 0, 20, 40, 60, 0 with `request-success-rate = 100`, then a
    /// faulty 6.7.2 (half its requests fail) rolled back to weight 0 within the first steps, the
    /// primary keeping 6.7.1. `sample` reads the split, `canary` its canary weight; returns what
    /// each run saw.
    pub fn good_then_faulty<T: PartialEq + Send + std::fmt::Debug>(
        &self,
        spec: &str,
        sample: impl Fn() -> Option<T> + Sync,
        canary: impl Fn(&T) -> u64,
    ) -> (Vec<T>, Vec<T>) {
        self.release("6.7.1", "0");
        let (r, good) = self.run_sampling(spec, &sample);
        let out = format!("{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.code, 0, "{out}");
        let weights: Vec<u64> = good.iter().map(&canary).collect();
        assert_eq!(weights, [0, 20, 40, 60, 0], "{good:?}\n{out}");
        assert!(self.primary_image().ends_with(":6.7.1"));
        assert!(out.contains("request-success-rate = 100"), "{out}");

        self.release("6.7.2", "0.5");
        let (r, bad) = self.run_sampling(spec, &sample);
        let out = format!("{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.code, 1, "{out}");
        assert!(
            out.contains("halt advancement: request-success-rate"),
            "rolled back by the built-in success rate: {out}"
        );
        assert_eq!(bad.last().map(&canary), Some(0), "{bad:?}");
        assert!(bad.iter().all(|s| canary(s) <= 40), "halted early: {bad:?}");
        assert!(
            self.primary_image().ends_with(":6.7.1"),
            "the primary keeps 6.7.1"
        );
        (good, bad)
    }

    /// `init` on `spec` fails with exit 2 saying `why`, with nothing written but the run lock.
    pub fn init_refused(&self, spec: &str, why: &str) {
        let dir = tempfile::tempdir().unwrap();
        let file = Cluster::spec_file(&dir, spec);
        self.sim.clear_requests();
        let r = self.init(&file, &[]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
        let writes = self.writes_but_the_lock();
        assert!(
            writes.is_empty(),
            "nothing written but the lock: {writes:?}"
        );
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

    /// `canary-gate run` on `spec` while `sample` is taken every 20 ms (and once after): the run
    /// and each distinct sample in order.
    pub fn run_sampling<T: PartialEq + Send>(
        &self,
        spec: &str,
        sample: impl Fn() -> Option<T> + Sync,
    ) -> (Run, Vec<T>) {
        let dir = tempfile::tempdir().unwrap();
        let file = Cluster::spec_file(&dir, spec);
        let done = std::sync::atomic::AtomicBool::new(false);
        let seen = std::sync::Mutex::new(Vec::new());
        let take = || {
            if let Some(s) = sample() {
                let mut v = seen.lock().unwrap();
                if v.last() != Some(&s) {
                    v.push(s);
                }
            }
        };
        let r = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    take();
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            });
            let r = self.canary_gate(&["run", "--canary", &file]);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        });
        // The last write can land within the final sampling period.
        take();
        (r, seen.into_inner().unwrap())
    }

    /// A real Prometheus scraping the simulator, with a few samples in; `None` (after saying
    /// so) when Prometheus is not installed and not required.
    pub fn prometheus(&self) -> Option<canary_gate_sim::prometheus::Prometheus> {
        use canary_gate_sim::prometheus::Prometheus;
        if !Prometheus::available() {
            assert!(
                !crate::support::required("prometheus"),
                "prometheus is required here but not installed"
            );
            eprintln!("skipped: prometheus is not installed");
            return None;
        }
        let target = self.sim.metrics_url.trim_start_matches("http://");
        let prom =
            Prometheus::start(target.trim_end_matches("/metrics")).expect("prometheus starts");
        assert!(
            prom.wait_for_samples(3, std::time::Duration::from_secs(60)),
            "Prometheus scrapes the simulator"
        );
        Some(prom)
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

    /// A release of the fixture app: a new podinfo `tag` whose pods fail `error_rate` (0-1) of
    /// their requests.
    pub fn release(&self, tag: &str, error_rate: &str) {
        self.patch_deployment(
            "podinfo",
            &json!({"spec": {"template": {
                "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": error_rate}},
                "spec": {"containers": [{"name": "podinfo", "image": format!("ghcr.io/stefanprodan/podinfo:{tag}")}]}}}}),
        );
    }

    /// Canary `canary`'s stored state (`null` when there is none).
    pub fn state(&self, canary: &str) -> Value {
        self.find("v1", "ConfigMap", &format!("canary-gate.{canary}"))
            .and_then(|cm| serde_json::from_str(cm["data"]["state.json"].as_str()?).ok())
            .unwrap_or(Value::Null)
    }

    /// The image `podinfo-primary` runs.
    pub fn primary_image(&self) -> String {
        self.get("apps/v1", "Deployment", "podinfo-primary")["spec"]["template"]["spec"]
            ["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The weight on `podinfo-canary` (NGINX), 0 when there is none.
    pub fn nginx_weight(&self) -> u32 {
        self.find("networking.k8s.io/v1", "Ingress", "podinfo-canary")
            .and_then(|i| {
                i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
                    .as_str()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// Every Event and ConfigMap in the test's namespaces, as JSON text (to search for leaks).
    pub fn events_and_configmaps(&self) -> String {
        let mut out = Vec::new();
        for ns in ["test", "default"] {
            for kind in ["Event", "ConfigMap"] {
                let objects = self.sim.list("v1", kind, ns);
                out.push(serde_json::to_string(&objects).unwrap_or_default());
            }
        }
        out.join("\n")
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

    /// [`Cluster::writes`] other than the run lock's.
    pub fn writes_but_the_lock(&self) -> Vec<String> {
        let mut w = self.writes();
        w.retain(|w| !w.contains("/leases"));
        w
    }
}

/// `validate` on `spec` (stepping 20 up to 60) made an A/B spec: the provider is driven, and its
/// A/B conditions are ignored with a warning because it has no header routing.
pub fn validate_ignores_ab(spec: &str, provider: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ab = spec.replace(
        "    stepWeight: 20\n    maxWeight: 60\n",
        "    iterations: 3\n    match: [{headers: {x-canary: {exact: insider}}}]\n",
    );
    let r = crate::support::cg(&["validate", &Cluster::spec_file(&dir, &ab)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("does not drive"), "{}", r.stderr);
    let why = format!("ignored: provider {provider} does not implement A/B testing");
    assert!(r.stderr.contains(&why), "{}", r.stderr);
}

/// The lab most rollout tests start from: a cluster with the fixture app and one spec file.
/// Each test module adds the helpers only it needs in its own `impl Lab`.
pub struct Lab {
    pub c: Cluster,
    pub spec: String,
    _dir: tempfile::TempDir,
}

impl Lab {
    /// `c` with `spec` written to a file of its own.
    pub fn new(c: Cluster, spec: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let spec = Cluster::spec_file(&dir, spec);
        Lab { c, spec, _dir: dir }
    }

    /// `canary-gate <args[0]> --canary <spec> <args[1..]>`.
    pub fn cmd(&self, args: &[&str]) -> Run {
        let mut all = vec![args[0], "--canary", &self.spec];
        all.extend_from_slice(&args[1..]);
        self.c.canary_gate(&all)
    }

    /// The lab's own directory (the spec file is in it).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// `init`, which must succeed.
    pub fn init(&self) {
        let r = self.cmd(&["init"]);
        assert_eq!(r.code, 0, "init: {}\n{}", r.stdout, r.stderr);
    }

    /// The stored state of `podinfo`.
    pub fn state(&self) -> Value {
        self.c.state("podinfo")
    }

    /// The canary Ingress's weight.
    pub fn weight(&self) -> u32 {
        self.c.nginx_weight()
    }

    /// The primary's image.
    pub fn primary_image(&self) -> String {
        self.c.primary_image()
    }

    /// A new revision of the target (`tag`, failing `error_rate` of its requests).
    pub fn release(&self, tag: &str, error_rate: &str) {
        self.c.release(tag, error_rate);
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
    fast(name, metrics).yaml()
}

/// [`fast_canary`] as a builder, for a test to add to.
pub fn fast(name: &str, metrics: &str) -> crate::canary::CanaryYaml {
    canary(name)
        .nginx()
        .metrics_server(metrics)
        .interval("1s")
        .threshold(2)
        .step_weight(50)
        .max_weight(50)
        .success_rate("5s", 99)
}

/// The pinned kubectl `testenv/kube` builds (built on first use).
pub fn kubectl() -> std::path::PathBuf {
    let dir = canary_gate_sim::real::binaries::components().expect("the Kubernetes components");
    dir.join("bin/kubectl")
}

/// `kubectl <args>` against the cluster; its stdout (it must succeed).
pub fn kubectl_run(c: &Cluster, args: &[&str]) -> String {
    let out = std::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&c.sim.kubeconfig)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
