//! The NGINX data plane: traffic through every Ingress, split as ingress-nginx splits it, served
//! by whatever pods a Service selects, counted under ingress-nginx's metric names.
//!
//! Requests advance with wall time (`rps` per Ingress, or its `canary-gate.dev/sim-rps`
//! annotation). A canary Ingress (`nginx.ingress.kubernetes.io/canary: "true"`) for the same host
//! and path takes `canary-weight` percent, plus the share of requests carrying its header or
//! cookie. Each version answers as its pod template says: `canary-gate.dev/sim-error-rate` (0-1,
//! fraction of 5xx) and `canary-gate.dev/sim-latency-ms`. No ready endpoints → 503. Fractions
//! are carried from tick to tick, so counts are exact and deterministic.
//!
//! HTTPRoutes get traffic too, split by backendRef weights (and header-match rules); that traffic
//! has no ingress-nginx series, only the pods' own `http_request_duration_seconds` (which all
//! served requests also feed), the series Flagger's generic HTTP observer reads. A rule's
//! `RequestMirror` filter sends copies of (`percent` or `fraction` of) its requests to the mirror
//! Service's ready pods, which count them like any other request.
//!
//! In-mesh traffic (Istio VirtualServices, SMI TrafficSplits) and the meshes' series live in
//! `mesh.rs`; Skipper, Contour and Gloo (`envoy.rs`), Traefik, APISIX, Knative
//! and Kuma have files of their own. This tick calls
//! each, this exposition appends their series, and all answer through [`DataPlane::serve`].

use crate::controller::{Endpoints, PodSet, pod_name};
use crate::resources::RESOURCES;
use crate::selector::Selector;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Per-Ingress requests per second.
pub const RPS_ANNOTATION: &str = "canary-gate.dev/sim-rps";
/// Pod template: fraction of responses that are 500s.
pub const ERROR_RATE_ANNOTATION: &str = "canary-gate.dev/sim-error-rate";
/// Pod template: response latency in milliseconds.
pub const LATENCY_ANNOTATION: &str = "canary-gate.dev/sim-latency-ms";
/// Canary Ingress: share of requests that carry its header or cookie (default from the config).
pub const HEADER_SHARE_ANNOTATION: &str = "canary-gate.dev/sim-header-share";

const NGINX: &str = "nginx.ingress.kubernetes.io/";
/// The upper bounds (seconds) of every duration histogram's buckets, `+Inf` aside: ingress-nginx's
/// defaults for `response_duration_seconds`, also used for the pods' own histograms.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// (namespace, ingress).
pub type IngressKey = (String, String);
/// Requests, non-5xx requests, sum of durations (seconds).
pub type CanaryTotals = (u64, u64, f64);

/// (namespace, pod).
pub type PodKey = (String, String);

/// One pod's `http_request_duration_seconds` totals, all statuses together.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PodTotals {
    /// Requests answered.
    pub requests: u64,
    /// Requests answered with a status other than 5xx.
    pub ok: u64,
    /// Cumulative bucket counts, one per bound in [`BUCKETS`] (the `+Inf` bucket is `requests`).
    pub buckets: [u64; BUCKETS.len()],
}

/// Labels of one counter series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Series {
    namespace: String,
    ingress: String,
    host: String,
    path: String,
    service: String,
    canary: String,
    status: String,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Labels of one series the application pods export themselves (`http_request_duration_seconds`,
/// as Prometheus' Kubernetes pod discovery labels it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AppSeries {
    namespace: String,
    pod: String,
    status: String,
}

/// Counters and the fractions carried between ticks.
#[derive(Debug, Default)]
pub struct DataPlane {
    requests: BTreeMap<Series, u64>,
    durations: BTreeMap<Series, Histogram>,
    app: BTreeMap<AppSeries, Histogram>,
    carry: BTreeMap<String, f64>,
    /// The meshes' own series (Istio, Linkerd).
    pub(crate) mesh: crate::mesh::MeshSeries,
    /// Skipper's route series.
    pub(crate) skipper: crate::skipper::SkipperSeries,
    /// Envoy's upstream series (Contour, Gloo, Knative's Kourier, Kuma).
    pub(crate) envoy: crate::envoy::EnvoySeries,
    /// Traefik's service series.
    pub(crate) traefik: crate::traefik::TraefikSeries,
    /// APISIX's route series.
    pub(crate) apisix: crate::apisix::ApisixSeries,
}

/// What one pod set answered of the requests it was sent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Served {
    /// The pods' namespace.
    pub namespace: String,
    /// The Deployment or DaemonSet owning the pods.
    pub workload: String,
    /// Requests answered 200.
    pub ok: u64,
    /// Requests answered 500.
    pub errors: u64,
    /// How long each took.
    pub latency_ms: f64,
}

/// A pod set's error rate (0-1) and latency (ms), from its template's annotations.
pub(crate) fn behaviour(set: &PodSet) -> (f64, f64) {
    let anns = &set.template["metadata"]["annotations"];
    let error_rate: f64 = anns[ERROR_RATE_ANNOTATION]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let latency_ms: f64 = anns[LATENCY_ANNOTATION]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    (error_rate.clamp(0.0, 1.0), latency_ms.max(0.0))
}

/// The ready pod sets the Service `namespace/service` selects (none when it does not exist).
pub(crate) fn endpoints(
    store: &Store,
    controller: &dyn Endpoints,
    namespace: &str,
    service: &str,
) -> Vec<PodSet> {
    store
        .get(services(), namespace, service)
        .ok()
        .and_then(|svc| svc["spec"]["selector"].as_object().map(Selector::from_map))
        .map(|sel| controller.endpoints(namespace, &sel))
        .unwrap_or_default()
}

#[derive(Clone, Debug)]
struct Route {
    host: String,
    path: String,
    service: String,
    port: String,
}

fn ingresses() -> &'static crate::resources::Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == "Ingress")
        .unwrap_or(&RESOURCES[0])
}

fn httproutes() -> &'static crate::resources::Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == "HTTPRoute")
        .unwrap_or(&RESOURCES[0])
}

fn services() -> &'static crate::resources::Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == "Service")
        .unwrap_or(&RESOURCES[0])
}

pub(crate) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

/// An annotation read as a finite number (a rate, a share).
pub(crate) fn number_annotation(obj: &Value, key: &str) -> Option<f64> {
    annotation(obj, key)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// An Ingress's namespace, name and requests per second (its `canary-gate.dev/sim-rps`, else
/// `default_rps`).
pub(crate) fn ingress_traffic(ing: &Value, default_rps: f64) -> (String, String, f64) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let rps = annotation(ing, RPS_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rps);
    (
        text(&ing["metadata"]["namespace"]),
        text(&ing["metadata"]["name"]),
        rps,
    )
}

fn routes(ing: &Value) -> Vec<Route> {
    let mut out = Vec::new();
    for rule in ing["spec"]["rules"].as_array().into_iter().flatten() {
        let host = rule["host"].as_str().unwrap_or("").to_string();
        for p in rule["http"]["paths"].as_array().into_iter().flatten() {
            let svc = &p["backend"]["service"];
            let Some(service) = svc["name"].as_str() else {
                continue;
            };
            let port = svc["port"]["number"]
                .as_i64()
                .map(|n| n.to_string())
                .or_else(|| svc["port"]["name"].as_str().map(str::to_string))
                .unwrap_or_default();
            out.push(Route {
                host: host.clone(),
                path: p["path"].as_str().unwrap_or("/").to_string(),
                service: service.to_string(),
                port,
            });
        }
    }
    out
}

impl DataPlane {
    /// Takes `whole + carried fraction` for `key`, returns the whole part and keeps the rest.
    pub(crate) fn take(&mut self, key: String, amount: f64) -> u64 {
        let total = amount + self.carry.get(&key).copied().unwrap_or(0.0);
        let whole = total.floor().max(0.0);
        self.carry.insert(key, total - whole);
        whole as u64
    }

    /// Splits `n` requests across `weights` in proportion, carrying fractions under `key`; the
    /// last entry with weight takes what is left, so the counts add up to `n` (all 0 when no
    /// entry has weight).
    pub(crate) fn split_by_weight(&mut self, key: &str, n: u64, weights: &[f64]) -> Vec<u64> {
        let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
        let mut out = vec![0; weights.len()];
        let Some(last) = weights.iter().rposition(|w| *w > 0.0) else {
            return out;
        };
        let mut left = n;
        for (i, w) in weights.iter().enumerate().take(last) {
            let share = n as f64 * w.max(0.0) / total;
            out[i] = self.take(format!("{key}/w{i}"), share).min(left);
            left -= out[i];
        }
        out[last] = left;
        out
    }

    /// Sends `dt` seconds of traffic through every Ingress.
    pub fn tick(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
        default_header_share: f64,
    ) {
        let none = Selector::default();
        let all = store.list_items(ingresses(), None, &none, &none);
        let (skipper, nginx): (Vec<&Value>, Vec<&Value>) =
            all.iter().partition(|i| crate::skipper::is_skipper(i));
        let (canaries, mains): (Vec<&Value>, Vec<&Value>) = nginx
            .into_iter()
            .partition(|i| annotation(i, &format!("{NGINX}canary")) == Some("true"));
        for ing in mains {
            let (ns, name, rps) = ingress_traffic(ing, default_rps);
            let routes = routes(ing);
            if routes.is_empty() {
                continue;
            }
            let per_route = rps * dt / routes.len() as f64;
            for (i, route) in routes.iter().enumerate() {
                let n = self.take(format!("in/{ns}/{name}/{i}"), per_route);
                let canary = canaries.iter().find_map(|c| {
                    (c["metadata"]["namespace"].as_str() == Some(ns.as_str()))
                        .then(|| routes_of_canary(c, route))
                        .flatten()
                        .map(|r| (*c, r))
                });
                let (to_canary, canary_route) = match canary {
                    None => (0, None),
                    Some((c, cr)) => {
                        let has_match = annotation(c, &format!("{NGINX}canary-by-header"))
                            .is_some()
                            || annotation(c, &format!("{NGINX}canary-by-cookie")).is_some();
                        let share = annotation(c, HEADER_SHARE_ANNOTATION)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(default_header_share);
                        let matched = if has_match {
                            self.take(format!("hdr/{ns}/{name}/{i}"), n as f64 * share)
                        } else {
                            0
                        };
                        let weight: f64 = annotation(c, &format!("{NGINX}canary-weight"))
                            .and_then(|w| w.parse().ok())
                            .unwrap_or(0.0);
                        let rest = n.saturating_sub(matched);
                        let weighted = self.take(
                            format!("w/{ns}/{name}/{i}"),
                            rest as f64 * weight.clamp(0.0, 100.0) / 100.0,
                        );
                        (matched + weighted, Some(cr))
                    }
                };
                let labels = |service: &str, canary: String| Series {
                    namespace: ns.clone(),
                    ingress: name.clone(),
                    host: route.host.clone(),
                    path: route.path.clone(),
                    service: service.to_string(),
                    canary,
                    status: String::new(),
                };
                let _ = self.serve(
                    store,
                    controller,
                    &ns,
                    &route.service,
                    Some(labels(&route.service, String::new())),
                    n - to_canary.min(n),
                );
                if let Some(cr) = canary_route {
                    let upstream = format!("{ns}-{}-{}", cr.service, cr.port);
                    let _ = self.serve(
                        store,
                        controller,
                        &ns,
                        &cr.service,
                        Some(labels(&cr.service, upstream)),
                        to_canary.min(n),
                    );
                }
            }
        }
        self.tick_skipper(store, controller, &skipper, dt, default_rps);
        self.tick_contour(store, controller, dt, default_rps, default_header_share);
        self.tick_traefik(store, controller, dt, default_rps);
        self.tick_apisix(store, controller, dt, default_rps);
        self.tick_gloo(store, controller, dt, default_header_share);
        self.tick_knative(store, controller, dt, default_rps);
        self.tick_kuma(store, controller, dt);
        self.tick_routes(store, controller, dt, default_rps, default_header_share);
        self.tick_mesh(store, controller, dt, default_rps, default_header_share);
    }

    /// Serves `n` requests for `service` in `namespace`; `edge` labels the ingress-nginx series
    /// (Gateway API and mesh traffic have none: only the pods count it). What each pod set
    /// answered; `None` when no endpoint was ready (503s).
    pub(crate) fn serve(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        namespace: &str,
        service: &str,
        edge: Option<Series>,
        n: u64,
    ) -> Option<Vec<Served>> {
        if n == 0 {
            return Some(Vec::new());
        }
        let endpoints = endpoints(store, controller, namespace, service);
        let total: i64 = endpoints.iter().map(|e| e.count).sum();
        if total == 0 {
            if let Some(edge) = edge {
                self.record(edge, "503", n, 0.0);
            }
            return None;
        }
        let via = edge.as_ref().map_or("", |e| e.ingress.as_str()).to_string();
        let key = format!("ep/{namespace}/{service}/{via}");
        let mut served = Vec::new();
        for (i, set) in endpoints.iter().enumerate() {
            let share = self.take(
                format!("{key}/{i}"),
                n as f64 * set.count as f64 / total as f64,
            );
            if let Some(s) = self.answer(edge.as_ref(), set, share) {
                served.push(s);
            }
        }
        Some(served)
    }

    fn answer(&mut self, edge: Option<&Series>, set: &PodSet, n: u64) -> Option<Served> {
        if n == 0 {
            return None;
        }
        let (error_rate, latency_ms) = behaviour(set);
        let key = format!("err/{}/{}/{}", set.namespace, set.deployment, set.hash);
        let errors = self.take(key, n as f64 * error_rate).min(n);
        let seconds = latency_ms / 1000.0;
        if let Some(edge) = edge {
            self.record(edge.clone(), "500", errors, seconds);
            self.record(edge.clone(), "200", n - errors, seconds);
        }
        for (status, count) in [("500", errors), ("200", n - errors)] {
            for i in 0..set.count {
                let key = format!("pod/{}/{}/{i}/{status}", set.namespace, set.hash);
                let per_pod = self.take(key, count as f64 / set.count as f64);
                let series = AppSeries {
                    namespace: set.namespace.clone(),
                    pod: pod_name(set, i),
                    status: status.to_string(),
                };
                observe(self.app.entry(series).or_default(), per_pod, seconds);
            }
        }
        Some(Served {
            namespace: set.namespace.clone(),
            workload: set.deployment.clone(),
            ok: n - errors,
            errors,
            latency_ms,
        })
    }

    fn record(&mut self, mut series: Series, status: &str, n: u64, seconds: f64) {
        if n == 0 {
            return;
        }
        series.status = status.to_string();
        *self.requests.entry(series.clone()).or_default() += n;
        observe(self.durations.entry(series).or_default(), n, seconds);
    }

    /// Sends `dt` seconds of traffic through every HTTPRoute: rules with header matches get the
    /// configured share of requests (those carrying the header), the last rule without header
    /// matches the rest; within a rule, backendRefs split by weight, and each `RequestMirror`
    /// filter sends copies of its share of the rule's requests to the mirror Service.
    fn tick_routes(
        &mut self,
        store: &Store,
        controller: &dyn Endpoints,
        dt: f64,
        default_rps: f64,
        header_share: f64,
    ) {
        let none = Selector::default();
        for route in store.list_items(httproutes(), None, &none, &none) {
            let ns = route["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let name = route["metadata"]["name"].as_str().unwrap_or("").to_string();
            let rps = annotation(&route, RPS_ANNOTATION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default_rps);
            let rules: Vec<&Value> = route["spec"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let has_headers = |r: &Value| {
                r["matches"].as_array().is_some_and(|ms| {
                    ms.iter()
                        .any(|m| m["headers"].as_array().is_some_and(|h| !h.is_empty()))
                })
            };
            let header_rule = rules.iter().position(|r| has_headers(r));
            let plain_rule = rules.iter().rposition(|r| !has_headers(r));
            let n = self.take(format!("route/{ns}/{name}"), rps * dt);
            let matched = match header_rule {
                Some(_) => self.take(format!("route-hdr/{ns}/{name}"), n as f64 * header_share),
                None => 0,
            };
            let shares = [(header_rule, matched), (plain_rule, n - matched.min(n))];
            for (rule, count) in shares {
                let Some(rule) = rule.map(|i| rules[i]) else {
                    continue;
                };
                let backends: Vec<(String, f64)> = rule["backendRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| {
                        Some((
                            b["name"].as_str()?.to_string(),
                            b["weight"].as_f64().unwrap_or(1.0).max(0.0),
                        ))
                    })
                    .collect();
                let total: f64 = backends.iter().map(|(_, w)| w).sum();
                for (service, weight) in backends.into_iter().filter(|_| total > 0.0) {
                    let part = self.take(
                        format!("route-be/{ns}/{name}/{service}"),
                        count as f64 * weight / total,
                    );
                    let _ = self.serve(store, controller, &ns, &service, None, part);
                }
                for (i, mirror) in mirrors(rule, &ns).into_iter().enumerate() {
                    let copies = self.take(
                        format!("route-mirror/{ns}/{name}/{i}/{}", mirror.service),
                        count as f64 * mirror.share,
                    );
                    let _ = self.serve(
                        store,
                        controller,
                        &mirror.namespace,
                        &mirror.service,
                        None,
                        copies,
                    );
                }
            }
        }
    }

    /// Requests through an Ingress, by status code.
    pub fn ingress_statuses(&self, namespace: &str, ingress: &str) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (s, n) in &self.requests {
            if s.namespace == namespace && s.ingress == ingress {
                *out.entry(s.status.clone()).or_default() += n;
            }
        }
        out
    }

    /// Requests the pods whose names start with `pod_prefix` answered, by status.
    pub fn app_requests(&self, namespace: &str, pod_prefix: &str) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (s, h) in &self.app {
            if s.namespace == namespace && s.pod.starts_with(pod_prefix) {
                *out.entry(s.status.clone()).or_default() += h.count;
            }
        }
        out
    }

    /// Every pod's own request totals, sorted by (namespace, pod).
    pub fn pod_totals(&self) -> Vec<(PodKey, PodTotals)> {
        let mut out: Vec<(PodKey, PodTotals)> = Vec::new();
        for (s, h) in &self.app {
            if out
                .last()
                .is_none_or(|((ns, pod), _)| *ns != s.namespace || *pod != s.pod)
            {
                out.push(((s.namespace.clone(), s.pod.clone()), PodTotals::default()));
            }
            if let Some((_, t)) = out.last_mut() {
                t.requests += h.count;
                if !s.status.starts_with('5') {
                    t.ok += h.count;
                }
                for (sum, n) in t.buckets.iter_mut().zip(h.buckets) {
                    *sum += n;
                }
            }
        }
        out
    }

    /// Canary-backend totals per (namespace, ingress): requests, non-5xx, duration sum.
    pub fn canary_totals(&self) -> Vec<(IngressKey, CanaryTotals)> {
        let mut out: BTreeMap<IngressKey, CanaryTotals> = BTreeMap::new();
        for (s, n) in &self.requests {
            if s.canary.is_empty() {
                continue;
            }
            let e = out
                .entry((s.namespace.clone(), s.ingress.clone()))
                .or_default();
            e.0 += n;
            if !s.status.starts_with('5') {
                e.1 += n;
            }
        }
        for (s, h) in &self.durations {
            if !s.canary.is_empty()
                && let Some(e) = out.get_mut(&(s.namespace.clone(), s.ingress.clone()))
            {
                e.2 += h.sum;
            }
        }
        out.into_iter().collect()
    }

    /// Total requests counted for an Ingress (all series), for tests and the demo.
    pub fn total_requests(&self, namespace: &str, ingress: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(s, _)| s.namespace == namespace && s.ingress == ingress)
            .map(|(_, n)| n)
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let labels = |s: &Series| {
            format!(
                "canary=\"{}\",controller_class=\"k8s.io/ingress-nginx\",controller_namespace=\"ingress-nginx\",controller_pod=\"canary-sim\",host=\"{}\",ingress=\"{}\",method=\"GET\",namespace=\"{}\",path=\"{}\",service=\"{}\",status=\"{}\"",
                s.canary, s.host, s.ingress, s.namespace, s.path, s.service, s.status
            )
        };
        out.push_str(
            "# HELP nginx_ingress_controller_requests The total number of client requests\n",
        );
        out.push_str("# TYPE nginx_ingress_controller_requests counter\n");
        for (s, n) in &self.requests {
            let _ = writeln!(
                out,
                "nginx_ingress_controller_requests{{{}}} {n}",
                labels(s)
            );
        }
        out.push_str("# HELP nginx_ingress_controller_response_duration_seconds The time spent on receiving the response from the upstream server\n");
        out.push_str("# TYPE nginx_ingress_controller_response_duration_seconds histogram\n");
        for (s, h) in &self.durations {
            write_histogram(
                &mut out,
                "nginx_ingress_controller_response_duration_seconds",
                &labels(s),
                h,
            );
        }
        out.push_str("# HELP http_request_duration_seconds Request duration as the application pods export it\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (s, h) in &self.app {
            let l = format!(
                "kubernetes_namespace=\"{}\",kubernetes_pod_name=\"{}\",method=\"GET\",path=\"/\",status=\"{}\"",
                s.namespace, s.pod, s.status
            );
            write_histogram(&mut out, "http_request_duration_seconds", &l, h);
        }
        self.mesh.render(&mut out);
        self.skipper.render(&mut out);
        self.envoy.render(&mut out);
        self.traefik.render(&mut out);
        self.apisix.render(&mut out);
        out
    }
}

pub(crate) fn write_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (i, le) in BUCKETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{le}\"}} {}",
            h.buckets[i]
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

pub(crate) fn observe(h: &mut Histogram, n: u64, seconds: f64) {
    if n == 0 {
        return;
    }
    for (i, le) in BUCKETS.iter().enumerate() {
        if seconds <= *le {
            h.buckets[i] += n;
        }
    }
    h.sum += seconds * n as f64;
    h.count += n;
}

/// Where a rule's `RequestMirror` filter sends copies, and what share of the rule's requests.
#[derive(Clone, Debug, PartialEq)]
struct Mirror {
    namespace: String,
    service: String,
    share: f64,
}

/// A rule's `RequestMirror` filters to Services: `requestMirror.backendRef` (namespace defaults
/// to the route's) with `percent` (0-100) or `fraction` (`numerator`/`denominator`, default
/// 100); all requests when neither is set.
fn mirrors(rule: &Value, route_namespace: &str) -> Vec<Mirror> {
    rule["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["type"] == "RequestMirror")
        .filter_map(|f| {
            let m = &f["requestMirror"];
            let backend = &m["backendRef"];
            let core = backend["group"].as_str().unwrap_or("").is_empty();
            if !core || backend["kind"].as_str().unwrap_or("Service") != "Service" {
                return None;
            }
            let share = match (m["percent"].as_f64(), &m["fraction"]) {
                (Some(percent), _) => percent / 100.0,
                (None, fraction) if fraction.is_object() => {
                    let numerator = fraction["numerator"].as_f64()?;
                    let denominator = fraction["denominator"].as_f64().unwrap_or(100.0);
                    if denominator <= 0.0 {
                        return None;
                    }
                    numerator / denominator
                }
                (None, _) => 1.0,
            };
            Some(Mirror {
                namespace: backend["namespace"]
                    .as_str()
                    .unwrap_or(route_namespace)
                    .to_string(),
                service: backend["name"].as_str()?.to_string(),
                share: share.clamp(0.0, 1.0),
            })
        })
        .collect()
}

/// The canary Ingress's route for the same host and path as `main`, if it has one.
fn routes_of_canary(canary: &Value, main: &Route) -> Option<Route> {
    routes(canary)
        .into_iter()
        .find(|r| r.host == main.host && r.path == main.path)
}
