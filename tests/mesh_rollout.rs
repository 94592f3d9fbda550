//! The mesh routers end to end through the binary, on whichever back end the suite runs
//! (simulator or real kube-apiserver with the Istio and SMI CRDs): the simulator's data plane
//! sends in-mesh traffic through the VirtualService or TrafficSplit and exports the mesh's own
//! series, a real Prometheus scrapes them, and the built-in checks read them with Flagger's
//! queries. Per provider a good release is promoted through its weights (the route sampled
//! while `run` works) and a faulty one rolled back by `request-success-rate`; on Istio also A/B
//! by header and blue/green with mirroring; and a VirtualService someone else owns is refused.

use crate::cluster::Cluster;
use crate::mesh::{assert_valid, schema, spec_of};
use canary_gate_sim::prometheus::Prometheus;
use serde_json::{Value, json};

const ISTIO: &str = "networking.istio.io/v1beta1";

/// The fixture app with a real Prometheus scraping the simulator (`None`, after saying so,
/// when Prometheus is not installed and not required).
struct Mesh {
    c: Cluster,
    prom: Prometheus,
}

fn mesh() -> Option<Mesh> {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let prom = c.prometheus()?;
    Some(Mesh { c, prom })
}

/// Which object holds a provider's split, and how it is read.
#[derive(Clone, Copy)]
enum Holder {
    VirtualService,
    TrafficSplit(&'static str),
    HttpRoute(&'static str),
}

impl Holder {
    fn read(self, c: &Cluster) -> Option<Value> {
        match self {
            Holder::VirtualService => c.find(ISTIO, "VirtualService", "podinfo"),
            Holder::TrafficSplit(v) => c.find(v, "TrafficSplit", "podinfo"),
            Holder::HttpRoute(v) => c.find(v, "HTTPRoute", "podinfo"),
        }
    }

    /// `(primary, canary, mirrored)` of the last route that has the canary as a destination
    /// (Flagger's reading), or the TrafficSplit's backends.
    fn split(self, c: &Cluster) -> Option<(u32, u32, bool)> {
        let obj = self.read(c)?;
        let spec = &obj["spec"];
        let weight = |v: &Value| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0) as u32
        };
        match self {
            Holder::VirtualService => {
                let route = spec["http"].as_array()?.iter().rfind(|r| {
                    r["route"].as_array().is_some_and(|d| {
                        d.iter()
                            .any(|d| d["destination"]["host"] == "podinfo-canary")
                    })
                })?;
                let w = |host: &str| {
                    route["route"].as_array().and_then(|d| {
                        d.iter()
                            .find(|d| d["destination"]["host"] == host)
                            .map(|d| weight(&d["weight"]))
                    })
                };
                let mirrored = route["mirror"]["host"] == "podinfo-canary";
                Some((w("podinfo-primary")?, w("podinfo-canary")?, mirrored))
            }
            Holder::HttpRoute(_) => {
                let s = canary_gate::router::gateway_api::render::split_of(spec, "podinfo-canary")?;
                Some((s.primary, s.canary, s.mirrored))
            }
            Holder::TrafficSplit(_) => {
                let b = spec["backends"].as_array()?;
                let w = |s: &str| {
                    b.iter()
                        .find(|b| b["service"] == s)
                        .map(|b| weight(&b["weight"]))
                };
                Some((w("podinfo-primary")?, w("podinfo-canary")?, false))
            }
        }
    }
}

/// Runs `canary-gate run` while sampling the split: the exit code, the output and each
/// distinct split in order.
fn run_watching(c: &Cluster, spec: &str, holder: Holder) -> (i32, String, Vec<(u32, u32, bool)>) {
    let (r, seen) = c.run_sampling(spec, || holder.split(c));
    (r.code, format!("{}\n{}", r.stdout, r.stderr), seen)
}

fn phase(c: &Cluster, canary: &str) -> String {
    c.state(canary)["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Takes the app over, then promotes a good release through the weights and rolls a faulty one
/// back on the built-in success rate read from Prometheus.
fn promotes_and_rolls_back(canary: &str, holder: Holder, schema_file: &str) {
    let Some(m) = mesh() else { return };
    let (c, spec) = (&m.c, spec_of(canary, &m.prom.url));
    let (code, out, _) = run_watching(c, &spec, holder);
    assert_eq!(code, 0, "{out}");
    assert_eq!(holder.split(c), Some((100, 0, false)));
    assert_valid(&schema(schema_file), &holder.read(c).unwrap());

    c.release("6.7.1", "0");
    let (code, out, seen) = run_watching(c, &spec, holder);
    assert_eq!(code, 0, "{out}");
    let weights: Vec<u32> = seen.iter().map(|s| s.1).collect();
    assert_eq!(weights, [0, 20, 40, 60, 0], "{seen:?}\n{out}");
    assert_eq!(phase(c, canary), "Succeeded", "{out}");
    assert!(c.primary_image().ends_with(":6.7.1"));

    c.release("6.7.2", "0.5");
    let (code, out, seen) = run_watching(c, &spec, holder);
    assert_eq!(code, 1, "{out}");
    assert_eq!(seen.last(), Some(&(100, 0, false)), "{seen:?}");
    assert!(
        seen.iter().all(|s| s.1 <= 40),
        "halted at the first steps: {seen:?}"
    );
    assert_eq!(phase(c, canary), "Failed");
    assert!(
        c.primary_image().ends_with(":6.7.1"),
        "the primary keeps the good release"
    );
    assert!(out.contains("request-success-rate"), "{out}");
    let denied = crate::manifests::denied_by_the_role(c);
    assert!(
        denied.is_empty(),
        "fixtures/rbac/role.yaml must allow: {denied:#?}"
    );
}

#[test]
fn istio_promotes_a_good_release_and_rolls_back_a_bad_one_on_istio_metrics() {
    promotes_and_rolls_back(
        "podinfo",
        Holder::VirtualService,
        "istio/virtualservice-v1beta1.schema.json",
    );
}

#[test]
fn linkerd_promotes_a_good_release_and_rolls_back_a_bad_one_on_linkerd_metrics() {
    promotes_and_rolls_back(
        "podinfo-linkerd",
        Holder::TrafficSplit("split.smi-spec.io/v1alpha1"),
        "smi/trafficsplit-v1alpha1.schema.json",
    );
}

#[test]
fn smi_v1alpha2_promotes_a_good_release_and_rolls_back_a_bad_one() {
    promotes_and_rolls_back(
        "podinfo-smi",
        Holder::TrafficSplit("split.smi-spec.io/v1alpha2"),
        "smi/trafficsplit-v1alpha2.schema.json",
    );
}

#[test]
fn linkerd_through_a_mesh_httproute_promotes_a_good_release_and_rolls_back_a_bad_one() {
    promotes_and_rolls_back(
        "podinfo-gamma",
        Holder::HttpRoute("gateway.networking.k8s.io/v1beta1"),
        "gateway-api/httproute-v1.schema.json",
    );
}

#[test]
fn istio_ab_sends_only_matching_requests_to_the_canary() {
    let Some(m) = mesh() else { return };
    let (c, spec) = (&m.c, spec_of("podinfo-ab", &m.prom.url));
    let (code, out, _) = run_watching(c, &spec, Holder::VirtualService);
    assert_eq!(code, 0, "{out}");
    let vs = c.get(ISTIO, "VirtualService", "podinfo");
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(
        http.len(),
        2,
        "the matching route and the primary-only fallback"
    );
    assert_eq!(
        http[0]["match"][0]["headers"]["x-canary"]["exact"],
        "insider"
    );
    assert_eq!(http[0]["match"][0]["uri"]["prefix"], "/api");
    assert_eq!(http[0]["match"][1]["sourceLabels"]["app"], "tester");
    assert_eq!(http[1]["route"].as_array().unwrap().len(), 1);

    c.release("6.7.1", "0");
    let (code, out, seen) = run_watching(c, &spec, Holder::VirtualService);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        seen,
        [(100, 0, false), (0, 100, false), (100, 0, false)],
        "{out}"
    );
    assert!(c.primary_image().ends_with(":6.7.1"));

    c.release("6.7.2", "0.5");
    let (code, out, seen) = run_watching(c, &spec, Holder::VirtualService);
    assert_eq!(code, 1, "{out}");
    assert_eq!(seen.last(), Some(&(100, 0, false)), "{seen:?}");
    assert_eq!(phase(c, "podinfo-ab"), "Failed");
}

#[test]
fn istio_blue_green_mirrors_then_switches() {
    let Some(m) = mesh() else { return };
    let (c, spec) = (&m.c, spec_of("podinfo-bg", &m.prom.url));
    let (code, out, _) = run_watching(c, &spec, Holder::VirtualService);
    assert_eq!(code, 0, "{out}");
    c.release("6.7.1", "0");
    let (code, out, seen) = run_watching(c, &spec, Holder::VirtualService);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        seen,
        [
            (100, 0, false),
            (100, 0, true),
            (0, 100, false),
            (100, 0, false)
        ],
        "{out}"
    );
    assert!(c.primary_image().ends_with(":6.7.1"));
    // While mirrored, half the requests were copied to the canary (mirrorWeight 50).
    c.release("6.7.2", "0.5");
    let (code, out, seen) = run_watching(c, &spec, Holder::VirtualService);
    assert_eq!(code, 1, "mirrored traffic alone fails the canary: {out}");
    assert!(seen.contains(&(100, 0, true)), "{seen:?}");
    assert_eq!(seen.last(), Some(&(100, 0, false)), "{seen:?}");
    assert!(c.primary_image().ends_with(":6.7.1"));
}

#[test]
fn a_virtual_service_canary_gate_does_not_own_is_refused_and_left_as_it_was() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let theirs = json!({"apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}]}]}});
    c.create(theirs);
    let before = c.get(ISTIO, "VirtualService", "podinfo");
    let dir = tempfile::tempdir().unwrap();
    let file = Cluster::spec_file(&dir, &spec_of("podinfo", "http://127.0.0.1:9"));
    c.sim.clear_requests();
    let r = c.canary_gate(&["init", "--canary", &file]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "virtualservice/podinfo in namespace test exists and is not managed by canary-gate"
        ),
        "{}",
        r.stderr
    );
    let writes = c.writes_but_the_lock();
    assert!(
        writes.is_empty(),
        "nothing written but the run lock: {writes:?}"
    );
    let after = c.get(ISTIO, "VirtualService", "podinfo");
    assert_eq!(before["spec"], after["spec"]);
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
}

#[test]
fn plan_shows_the_mesh_objects_as_diffs_and_writes_nothing() {
    let c = Cluster::new();
    c.podinfo(|_| {});
    let dir = tempfile::tempdir().unwrap();
    for (canary, objects) in [
        (
            "podinfo",
            &[
                "virtualservice/podinfo",
                "destinationrule/podinfo-primary",
                "destinationrule/podinfo-canary",
            ][..],
        ),
        ("podinfo-linkerd", &["trafficsplit/podinfo"][..]),
    ] {
        let file = Cluster::spec_file(&dir, &spec_of(canary, "http://127.0.0.1:9"));
        let writes = c.writes().len();
        let plan = c.canary_gate(&["plan", "--canary", &file]);
        assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
        for o in objects {
            assert!(plan.stdout.contains(o), "{o} in:\n{}", plan.stdout);
        }
        assert_eq!(c.writes().len(), writes, "plan writes nothing");
    }
}
