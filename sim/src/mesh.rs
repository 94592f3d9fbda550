//! The mesh data plane: synthetic in-mesh traffic through Istio VirtualServices and SMI
//! TrafficSplits, served by the pods each destination Service selects, counted under the series
//! Istio's and Linkerd's proxies export (`istio_requests_total`,
//! `istio_request_duration_milliseconds`, `response_total`, `response_latency_ms`).
//!
//! Owns the routing of that traffic and the meshes' counters. Requests are answered through
//! [`DataPlane::serve`], so the pods' own `http_request_duration_seconds` count them as any other
//! traffic. Must not touch the ingress-nginx series nor write to the store. DestinationRules do not
//! change where traffic goes.
//!
//! - VirtualService: `canary-gate.dev/sim-rps` requests per second (else the configured default).
//!   The first `spec.http` route whose `match` has `headers` takes the share of requests carrying
//!   them (`canary-gate.dev/sim-header-share`, else the configured default); the first route
//!   without header conditions takes the rest. Within a route, `route[].destination.host` (a
//!   Service name, or `name.namespace[.svc.cluster.local]`) splits by `weight` (a single
//!   destination without one takes 100); `mirror.host` (and each `mirrors[]` entry) gets copies of
//!   `mirrorPercentage.value` percent (default 100) of the route's requests. The first `spec.tcp`
//!   route carries as many connections per second, split the same way, counted as successes with
//!   `response_code="0"` and `request_protocol="tcp"` (no HTTP, so the pods' HTTP series skip them).
//! - TrafficSplit: requests to the apex split across `spec.backends[].service` by `weight` (an
//!   integer, or a Kubernetes quantity string such as `"90"` or `"500m"` as v1alpha1 writes it),
//!   counted as Linkerd counts them, or as Istio does when the split carries
//!   `canary-gate.dev/sim-mesh: istio` (SMI served by Istio's adapter).
//!
//! Counts are whole requests with fractions carried between ticks, so they are exact. A
//! destination without ready endpoints answers 503: Istio reports it from the source side
//! (`reporter="source"`, `destination_workload="unknown"`), Linkerd as outbound traffic.

use crate::controller::Endpoints;
use crate::dataplane::{
    DataPlane, HEADER_SHARE_ANNOTATION, RPS_ANNOTATION, Served, annotation, behaviour, endpoints,
    number_annotation,
};
use crate::resources::{RESOURCES, Resource};
use crate::selector::Selector;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// TrafficSplit: the mesh that serves it, whose series count its traffic (`istio`; else Linkerd).
pub const MESH_ANNOTATION: &str = "canary-gate.dev/sim-mesh";

/// Istio's default bucket bounds (milliseconds) for `istio_request_duration_milliseconds`.
pub const ISTIO_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Linkerd's bucket bounds (milliseconds) for `response_latency_ms`.
pub const LINKERD_BUCKETS_MS: [f64; 25] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0,
    1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0,
];

/// Which mesh's proxies see a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mesh {
    Istio,
    Linkerd,
}

/// Labels of one Istio series (counter and histogram share them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IstioKey {
    reporter: &'static str,
    workload: String,
    workload_namespace: String,
    service: String,
    service_namespace: String,
    protocol: &'static str,
    code: String,
}

/// Labels of one Linkerd series (`dst_service` only for outbound traffic).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LinkerdKey {
    namespace: String,
    deployment: String,
    direction: &'static str,
    dst_service: String,
    status_code: String,
}

/// Cumulative bucket counts (one per bound), sum (ms) and count: the histograms proxies keep in
/// milliseconds (Istio, Linkerd, Envoy).
#[derive(Clone, Debug, Default)]
pub(crate) struct MsHistogram {
    buckets: Vec<u64>,
    sum: f64,
    /// Observations.
    pub(crate) count: u64,
}

impl MsHistogram {
    /// Adds `n` observations of `ms` against `bounds`.
    pub(crate) fn observe(&mut self, bounds: &[f64], n: u64, ms: f64) {
        if self.buckets.len() != bounds.len() {
            self.buckets.resize(bounds.len(), 0);
        }
        for (b, le) in self.buckets.iter_mut().zip(bounds) {
            if ms <= *le {
                *b += n;
            }
        }
        self.sum += ms * n as f64;
        self.count += n;
    }

    /// Adds another histogram of the same bounds.
    pub(crate) fn add(&mut self, other: &MsHistogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (b, o) in self.buckets.iter_mut().zip(&other.buckets) {
            *b += o;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// The meshes' counters.
#[derive(Debug, Default)]
pub struct MeshSeries {
    istio: BTreeMap<IstioKey, MsHistogram>,
    linkerd: BTreeMap<LinkerdKey, MsHistogram>,
}

/// Where a route sends requests: a Service, and its weight.
#[derive(Clone, Debug, PartialEq)]
struct Destination {
    namespace: String,
    service: String,
    weight: f64,
}

/// The served resource of kind `k`.
pub(crate) fn kind(k: &str) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == k)
        .unwrap_or(&RESOURCES[0])
}

fn meta(obj: &Value, field: &str) -> String {
    obj["metadata"][field].as_str().unwrap_or("").to_string()
}

/// A Kubernetes quantity (`"90"`, `"500m"`, `"1.5"`, `"2k"`, `"1Ki"`, `"1e3"`) as a number.
pub fn parse_quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 15] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(s, m)| text.strip_suffix(s).map(|n| (n, *m)))
        .unwrap_or((text, 1.0));
    let first_ok = number
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite())?;
    first_ok.then_some(value * scale)
}

/// A weight as written: an integer, or a quantity string; negative weights count as 0.
fn weight_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_quantity(s),
        _ => None,
    }
    .map(|w| w.max(0.0))
}

/// A destination host as a Service: `name` (in `namespace`), or `name.ns[.svc.cluster.local]`.
fn service_of(host: &str, namespace: &str) -> (String, String) {
    let mut parts = host.split('.');
    let name = parts.next().unwrap_or("").to_string();
    let ns = parts.next().unwrap_or(namespace).to_string();
    (ns, name)
}

/// A route's `route[]` destinations; a lone destination without a weight takes 100.
fn destinations(route: &Value, namespace: &str) -> Vec<Destination> {
    let list: Vec<&Value> = route["route"].as_array().into_iter().flatten().collect();
    let lone = list.len() == 1;
    list.into_iter()
        .filter_map(|d| {
            let (ns, service) = service_of(d["destination"]["host"].as_str()?, namespace);
            let weight = match weight_of(&d["weight"]) {
                Some(w) => w,
                None if lone => 100.0,
                None => 0.0,
            };
            Some(Destination {
                namespace: ns,
                service,
                weight,
            })
        })
        .collect()
}

/// A route's mirrors (`mirror` with `mirrorPercentage`, and `mirrors[]` with `percentage`), each
/// with the fraction of the route's requests it copies.
fn mirrors(route: &Value, namespace: &str) -> Vec<Destination> {
    let single = route["mirror"]["host"]
        .as_str()
        .map(|h| (h, &route["mirrorPercentage"]["value"]));
    let many = route["mirrors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m["destination"]["host"].as_str()?,
                &m["percentage"]["value"],
            ))
        });
    single
        .into_iter()
        .chain(many)
        .map(|(host, percent)| {
            let (ns, service) = service_of(host, namespace);
            let share = percent.as_f64().unwrap_or(100.0).clamp(0.0, 100.0) / 100.0;
            Destination {
                namespace: ns,
                service,
                weight: share,
            }
        })
        .collect()
}

/// Whether an http route's `match` carries header conditions.
fn has_headers(route: &Value) -> bool {
    route["match"].as_array().is_some_and(|ms| {
        ms.iter()
            .any(|m| m["headers"].as_object().is_some_and(|h| !h.is_empty()))
    })
}

/// A TrafficSplit's backends in its namespace, weights parsed whatever the version.
fn backends(split: &Value, namespace: &str) -> Vec<Destination> {
    split["spec"]["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            Some(Destination {
                namespace: namespace.to_string(),
                service: b["service"].as_str()?.to_string(),
                weight: weight_of(&b["weight"]).unwrap_or(0.0),
            })
        })
        .collect()
}

impl DataPlane {
    /// Sends `dt` seconds of in-mesh traffic through every VirtualService and TrafficSplit.
    pub(crate) fn tick_mesh(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
        default_header_share: f64,
    ) {
        let none = Selector::default();
        for vs in store.list_items(kind("VirtualService"), None, &none, &none) {
            let rps = number_annotation(&vs, RPS_ANNOTATION).unwrap_or(default_rps);
            let share =
                number_annotation(&vs, HEADER_SHARE_ANNOTATION).unwrap_or(default_header_share);
            self.virtual_service(store, controller, &vs, rps * dt, share.clamp(0.0, 1.0));
            self.virtual_service_tcp(store, controller, &vs, rps * dt);
        }
        for split in store.list_items(kind("TrafficSplit"), None, &none, &none) {
            let rps = number_annotation(&split, RPS_ANNOTATION).unwrap_or(default_rps);
            self.traffic_split(store, controller, &split, rps * dt);
        }
    }

    fn virtual_service(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        vs: &Value,
        amount: f64,
        header_share: f64,
    ) {
        let (ns, name) = (meta(vs, "namespace"), meta(vs, "name"));
        let routes: Vec<&Value> = vs["spec"]["http"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        if routes.is_empty() {
            return;
        }
        let header_route = routes.iter().position(|r| has_headers(r));
        let plain_route = routes.iter().position(|r| !has_headers(r));
        let n = self.take(format!("vs/{ns}/{name}"), amount);
        let matched = match header_route {
            Some(_) => self.take(format!("vs-hdr/{ns}/{name}"), n as f64 * header_share),
            None => 0,
        };
        for (index, count) in [(header_route, matched), (plain_route, n - matched.min(n))] {
            let Some(i) = index else { continue };
            let key = format!("vs/{ns}/{name}/{i}");
            let route = routes[i];
            self.split(
                store,
                controller,
                &key,
                &destinations(route, &ns),
                count,
                Mesh::Istio,
            );
            for (m, mirror) in mirrors(route, &ns).into_iter().enumerate() {
                let copies = self.take(format!("{key}/mirror/{m}"), count as f64 * mirror.weight);
                self.request(store, controller, &mirror, copies, Mesh::Istio);
            }
        }
    }

    /// Connections through the first `spec.tcp` route.
    fn virtual_service_tcp(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        vs: &Value,
        amount: f64,
    ) {
        let (ns, name) = (meta(vs, "namespace"), meta(vs, "name"));
        let Some(route) = vs["spec"]["tcp"].as_array().and_then(|r| r.first()) else {
            return;
        };
        let n = self.take(format!("vs-tcp/{ns}/{name}"), amount);
        let dests = destinations(route, &ns);
        let total: f64 = dests.iter().map(|d| d.weight).sum();
        for (i, dest) in dests.iter().enumerate().filter(|_| total > 0.0) {
            let part = self.take(
                format!("vs-tcp/{ns}/{name}/{i}"),
                n as f64 * dest.weight / total,
            );
            self.connect(store, controller, dest, part);
        }
    }

    fn traffic_split(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        split: &Value,
        amount: f64,
    ) {
        let (ns, name) = (meta(split, "namespace"), meta(split, "name"));
        let n = self.take(format!("ts/{ns}/{name}"), amount);
        let key = format!("ts/{ns}/{name}");
        let mesh = match annotation(split, MESH_ANNOTATION) {
            Some("istio") => Mesh::Istio,
            _ => Mesh::Linkerd,
        };
        self.split(store, controller, &key, &backends(split, &ns), n, mesh);
    }

    /// Splits `n` requests across `dests` by weight.
    fn split(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        key: &str,
        dests: &[Destination],
        n: u64,
        mesh: Mesh,
    ) {
        let total: f64 = dests.iter().map(|d| d.weight).sum();
        if total <= 0.0 {
            return;
        }
        for (i, dest) in dests.iter().enumerate() {
            let part = self.take(format!("{key}/{i}"), n as f64 * dest.weight / total);
            self.request(store, controller, dest, part, mesh);
        }
    }

    /// Sends `n` requests to a Service's ready pods and counts them in the mesh's series.
    fn request(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dest: &Destination,
        n: u64,
        mesh: Mesh,
    ) {
        if n == 0 {
            return;
        }
        match self.serve(store, controller, &dest.namespace, &dest.service, None, n) {
            Some(served) => served
                .iter()
                .for_each(|s| self.mesh.served(mesh, &dest.service, s)),
            None => self.mesh.unserved(mesh, dest, n),
        }
    }

    /// Opens `n` TCP connections to a Service's ready pods (no HTTP status: all succeed).
    fn connect(&mut self, store: &Store, controller: &dyn Endpoints, dest: &Destination, n: u64) {
        let sets = endpoints(store, controller, &dest.namespace, &dest.service);
        let total: i64 = sets.iter().map(|s| s.count).sum();
        for (i, set) in sets.iter().enumerate().filter(|_| total > 0) {
            let key = format!("tcp/{}/{}/{i}", dest.namespace, dest.service);
            let part = self.take(key, n as f64 * set.count as f64 / total as f64);
            let (_, latency_ms) = behaviour(set);
            let key = IstioKey {
                reporter: "destination",
                workload: set.deployment.clone(),
                workload_namespace: set.namespace.clone(),
                service: dest.service.clone(),
                service_namespace: dest.namespace.clone(),
                protocol: "tcp",
                code: "0".into(),
            };
            self.mesh.istio_observe(key, part, latency_ms);
        }
    }

    /// Istio requests reported by the destination proxies of `workload` in `namespace`, by
    /// response code.
    pub fn istio_requests(&self, namespace: &str, workload: &str) -> BTreeMap<String, u64> {
        self.mesh.istio_codes(|k| {
            k.reporter == "destination"
                && k.workload_namespace == namespace
                && k.workload == workload
        })
    }

    /// Istio requests to `service` in `namespace` that found no ready endpoint (source-reported).
    pub fn istio_unserved(&self, namespace: &str, service: &str) -> u64 {
        self.mesh
            .istio_codes(|k| {
                k.reporter == "source" && k.service_namespace == namespace && k.service == service
            })
            .values()
            .sum()
    }

    /// Linkerd inbound responses of `deployment` in `namespace`, by (classification, status).
    pub fn linkerd_responses(
        &self,
        namespace: &str,
        deployment: &str,
    ) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for (k, h) in &self.mesh.linkerd {
            if k.direction == "inbound" && k.namespace == namespace && k.deployment == deployment {
                let class = classification(&k.status_code).to_string();
                *out.entry((class, k.status_code.clone())).or_default() += h.count;
            }
        }
        out
    }
}

fn classification(status: &str) -> &'static str {
    match status.starts_with('5') {
        true => "failure",
        false => "success",
    }
}

impl MeshSeries {
    fn istio_observe(&mut self, key: IstioKey, n: u64, ms: f64) {
        if n > 0 {
            let h = self.istio.entry(key).or_default();
            h.observe(&ISTIO_BUCKETS_MS, n, ms);
        }
    }

    fn linkerd_observe(&mut self, key: LinkerdKey, n: u64, ms: f64) {
        if n > 0 {
            let h = self.linkerd.entry(key).or_default();
            h.observe(&LINKERD_BUCKETS_MS, n, ms);
        }
    }

    fn istio_codes(&self, keep: impl Fn(&IstioKey) -> bool) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, h) in self.istio.iter().filter(|(k, _)| keep(k)) {
            *out.entry(k.code.clone()).or_default() += h.count;
        }
        out
    }

    /// Counts what one pod set answered for requests to `service`.
    fn served(&mut self, mesh: Mesh, service: &str, s: &Served) {
        for (code, n) in [("200", s.ok), ("500", s.errors)] {
            match mesh {
                Mesh::Istio => {
                    let key = IstioKey {
                        reporter: "destination",
                        workload: s.workload.clone(),
                        workload_namespace: s.namespace.clone(),
                        service: service.to_string(),
                        service_namespace: s.namespace.clone(),
                        protocol: "http",
                        code: code.into(),
                    };
                    self.istio_observe(key, n, s.latency_ms);
                }
                Mesh::Linkerd => {
                    let key = LinkerdKey {
                        namespace: s.namespace.clone(),
                        deployment: s.workload.clone(),
                        direction: "inbound",
                        dst_service: String::new(),
                        status_code: code.into(),
                    };
                    self.linkerd_observe(key, n, s.latency_ms);
                }
            }
        }
    }

    /// Counts `n` requests to a Service without ready endpoints (503 from the client's proxy).
    fn unserved(&mut self, mesh: Mesh, dest: &Destination, n: u64) {
        match mesh {
            Mesh::Istio => {
                let key = IstioKey {
                    reporter: "source",
                    workload: "unknown".into(),
                    workload_namespace: "unknown".into(),
                    service: dest.service.clone(),
                    service_namespace: dest.namespace.clone(),
                    protocol: "http",
                    code: "503".into(),
                };
                self.istio_observe(key, n, 0.0);
            }
            Mesh::Linkerd => {
                let key = LinkerdKey {
                    namespace: dest.namespace.clone(),
                    deployment: String::new(),
                    direction: "outbound",
                    dst_service: dest.service.clone(),
                    status_code: "503".into(),
                };
                self.linkerd_observe(key, n, 0.0);
            }
        }
    }

    /// Appends the Prometheus text exposition of every mesh series.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP istio_requests_total Requests, as Istio's proxies report them\n");
        out.push_str("# TYPE istio_requests_total counter\n");
        for (k, h) in &self.istio {
            let _ = writeln!(
                out,
                "istio_requests_total{{{}}} {}",
                istio_labels(k),
                h.count
            );
        }
        out.push_str("# HELP istio_request_duration_milliseconds Request duration, as Istio's proxies report it\n");
        out.push_str("# TYPE istio_request_duration_milliseconds histogram\n");
        for (k, h) in &self.istio {
            let name = "istio_request_duration_milliseconds";
            write_ms_histogram(out, name, &istio_labels(k), &ISTIO_BUCKETS_MS, h);
        }
        out.push_str("# HELP response_total Responses, as Linkerd's proxies report them\n");
        out.push_str("# TYPE response_total counter\n");
        for (k, h) in &self.linkerd {
            let class = classification(&k.status_code);
            let labels = format!("{},classification=\"{class}\"", linkerd_labels(k));
            let _ = writeln!(out, "response_total{{{labels}}} {}", h.count);
        }
        out.push_str(
            "# HELP response_latency_ms Response latency, as Linkerd's proxies report it\n",
        );
        out.push_str("# TYPE response_latency_ms histogram\n");
        for (k, h) in &self.linkerd {
            let labels = linkerd_labels(k);
            write_ms_histogram(out, "response_latency_ms", &labels, &LINKERD_BUCKETS_MS, h);
        }
    }
}

fn istio_labels(k: &IstioKey) -> String {
    format!(
        "reporter=\"{}\",source_workload=\"unknown\",source_workload_namespace=\"unknown\",destination_workload=\"{}\",destination_workload_namespace=\"{}\",destination_service=\"{}.{}.svc.cluster.local\",destination_service_name=\"{}\",destination_service_namespace=\"{}\",request_protocol=\"{}\",response_code=\"{}\",connection_security_policy=\"mutual_tls\"",
        k.reporter,
        k.workload,
        k.workload_namespace,
        k.service,
        k.service_namespace,
        k.service,
        k.service_namespace,
        k.protocol,
        k.code
    )
}

fn linkerd_labels(k: &LinkerdKey) -> String {
    let mut labels = format!("namespace=\"{}\"", k.namespace);
    if !k.deployment.is_empty() {
        let _ = write!(labels, ",deployment=\"{}\"", k.deployment);
    }
    let _ = write!(labels, ",direction=\"{}\",tls=\"true\"", k.direction);
    if !k.dst_service.is_empty() {
        let _ = write!(
            labels,
            ",dst_namespace=\"{}\",dst_service=\"{}\"",
            k.namespace, k.dst_service
        );
    }
    let _ = write!(labels, ",status_code=\"{}\"", k.status_code);
    labels
}

/// Writes one millisecond histogram's exposition.
pub(crate) fn write_ms_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    h: &MsHistogram,
) {
    for (le, n) in bounds.iter().zip(&h.buckets) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}
