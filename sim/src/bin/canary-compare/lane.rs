//! One driver's world in a scenario: a namespace of its own on the real cluster holding the
//! fixture app, a real Prometheus of its own scraping the data plane (so each driver's queries
//! are counted apart), the webhook stand-in, and the scenario's spec rendered for them (the
//! namespace and the two addresses are all that differ). Reads what the driver leaves on the
//! route, its share of the request log, and peak memory from `/proc`. Must not drive a rollout.
//!
//! The lanes share one untenanted handle: Flagger's Kubernetes client sends protobuf, which a
//! tenant proxy (it rewrites namespaces in JSON bodies) cannot carry, so each lane is a namespace
//! rather than a tenant.

use crate::hooks::Hooks;
use crate::scenario::Scenario;
use canary_gate_sim::SimHandle;
use canary_gate_sim::prometheus::Prometheus;
use canary_gate_sim::store::PatchKind;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A namespace with the app, its Prometheus and webhook stand-in.
pub struct Lane<'a> {
    /// The cluster's handle (shared by every lane).
    pub sim: &'a SimHandle,
    /// When the handle started (its request log counts from here).
    pub t0: Instant,
    /// The lane's namespace.
    pub ns: String,
    /// Prometheus scraping the tenant's data plane.
    pub prom: Prometheus,
    /// The webhook stand-in.
    pub hooks: Hooks,
    /// The scenario's Canary for this lane (YAML).
    pub spec: String,
}

/// The scenario's documents as JSON objects.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// `text` with the scenario's namespace `test` renamed to `ns`.
fn placed(text: &str, ns: &str) -> String {
    text.replace("namespace: test", &format!("namespace: {ns}"))
}

impl<'a> Lane<'a> {
    /// Namespace `ns` of the cluster behind `sim` (started at `t0`) set up for `s`.
    pub fn new(
        sim: &'a SimHandle,
        t0: Instant,
        ns: &str,
        s: &Scenario,
        app: &str,
    ) -> Result<Lane<'a>, String> {
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        sim.create(namespace)
            .map_err(|e| format!("creating namespace {ns}: {e:?}"))?;
        for doc in documents(&placed(app, ns))?
            .into_iter()
            .chain(documents(&placed(s.extra, ns))?)
        {
            // The comparison leaves autoscaling out: an HPA would fight both drivers' scaling.
            if doc["kind"] != "HorizontalPodAutoscaler" {
                sim.create(doc)
                    .map_err(|e| format!("creating the app: {e:?}"))?;
            }
        }
        let target = sim.metrics_url.trim_start_matches("http://");
        let prom = Prometheus::start(target.trim_end_matches("/metrics"))
            .map_err(|e| format!("starting prometheus: {e}"))?;
        if !prom.wait_for_samples(2, Duration::from_secs(60)) {
            return Err("prometheus scraped nothing within 60s".into());
        }
        let hooks = Hooks::start().map_err(|e| format!("starting the webhook stand-in: {e}"))?;
        let spec = placed(s.spec, ns)
            .replace("METRICS", &prom.url)
            .replace("HOOKS", &hooks.url);
        Ok(Lane {
            sim,
            t0,
            ns: ns.to_string(),
            prom,
            hooks,
            spec,
        })
    }

    /// Deletes the lane's namespace once its scenario is compared: its pods would otherwise go
    /// on serving simulated traffic, and every later lane's Prometheus scrape their series, so
    /// the last scenarios would run on a busier cluster than the first.
    pub fn retire(&self) {
        if let Some(k) = self.sim.real() {
            let path = format!("/api/v1/namespaces/{}", self.ns);
            let _ = k.block(k.direct.request(reqwest::Method::DELETE, &path, None));
        }
    }

    /// Releases `tag` whose pods fail `error_rate` of their requests.
    pub fn release(&self, tag: &str, error_rate: &str) -> Result<(), String> {
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"canary-gate.dev/sim-error-rate": error_rate}},
            "spec": {"containers": [{"name": "podinfo", "image": format!("ghcr.io/stefanprodan/podinfo:{tag}")}]}}}});
        self.sim
            .patch(
                "apps/v1",
                "Deployment",
                &self.ns,
                "podinfo",
                PatchKind::Strategic,
                &patch,
            )
            .map(|_| ())
            .map_err(|e| format!("releasing {tag}: {e:?}"))
    }

    /// The canary's weight on the route (`None` where the provider has no route); 100 while an
    /// A/B header rule sends matching requests to the canary.
    pub fn route_weight(&self) -> Option<u32> {
        let ns = &self.ns;
        if let Some(ing) = self
            .sim
            .get("networking.k8s.io/v1", "Ingress", ns, "podinfo-canary")
        {
            let a = &ing["metadata"]["annotations"];
            // A/B: the canary takes every request carrying the header while it is set.
            if a["nginx.ingress.kubernetes.io/canary-by-header"].is_string() {
                return Some(100);
            }
            let w = &a["nginx.ingress.kubernetes.io/canary-weight"];
            return w.as_str().and_then(|w| w.parse().ok());
        }
        if let Some(vs) = self.sim.get(
            "networking.istio.io/v1beta1",
            "VirtualService",
            ns,
            "podinfo",
        ) {
            return mesh_weight(&vs["spec"]["http"]);
        }
        if let Some(ts) = self
            .sim
            .get("split.smi-spec.io/v1alpha1", "TrafficSplit", ns, "podinfo")
        {
            let canary = ts["spec"]["backends"]
                .as_array()?
                .iter()
                .find(|b| b["service"] == "podinfo-canary")?;
            let w = &canary["weight"];
            return w
                .as_u64()
                .or_else(|| w.as_str()?.parse().ok())
                .map(|w| w as u32);
        }
        if let Some(proxy) = self
            .sim
            .get("projectcontour.io/v1", "HTTPProxy", ns, "podinfo")
        {
            return canary_entry(&proxy["spec"]["routes"][0]["services"], "name");
        }
        if let Some(ts) = self
            .sim
            .get("traefik.io/v1alpha1", "TraefikService", ns, "podinfo")
        {
            // The canary is listed only while it has weight.
            return canary_entry(&ts["spec"]["weighted"]["services"], "name").or(Some(0));
        }
        let route = self
            .sim
            .get("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "podinfo")?;
        route["spec"]["rules"]
            .as_array()?
            .iter()
            .filter_map(|r| r["backendRefs"].as_array())
            .rfind(|b| b.len() == 2)?
            .iter()
            .find(|b| b["name"] == "podinfo-canary")
            .and_then(|b| b["weight"].as_u64())
            .map(|w| w as u32)
    }

    /// API requests in the lane's namespace between `from` and `to` (with `-namespace`, all
    /// of Flagger's are; canary-gate names its canary's namespace in every request).
    pub fn requests_between(&self, from: Instant, to: Instant) -> u64 {
        let ms = |t: Instant| t.saturating_duration_since(self.t0).as_millis() as u64;
        let (a, b) = (ms(from), ms(to));
        let mine = format!("/namespaces/{}/", self.ns);
        self.sim
            .requests()
            .iter()
            .filter(|e| e.at_ms >= a && e.at_ms <= b && e.path.contains(&mine))
            .count() as u64
    }

    /// Queries Prometheus has answered so far (its own `prometheus_http_requests_total`).
    pub fn queries(&self) -> u64 {
        let text =
            canary_gate_sim::client::get_text(&self.prom.url, "/metrics").unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.starts_with("prometheus_http_requests_total{")
                    && l.contains("handler=\"/api/v1/query\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

/// The canary's weight in the last HTTP route that has the canary as a destination (how Flagger
/// reads a VirtualService).
fn mesh_weight(routes: &Value) -> Option<u32> {
    routes
        .as_array()?
        .iter()
        .filter_map(|r| r["route"].as_array())
        .rev()
        .find_map(|dests| {
            dests
                .iter()
                .find(|d| d["destination"]["host"] == "podinfo-canary")
        })
        .and_then(|d| d["weight"].as_u64())
        .map(|w| w as u32)
}

/// The weight of the entry of `list` whose `key` is the canary Service (a missing weight is 0).
fn canary_entry(list: &Value, key: &str) -> Option<u32> {
    let entry = list
        .as_array()?
        .iter()
        .find(|e| e[key] == "podinfo-canary")?;
    Some(entry["weight"].as_u64().unwrap_or(0) as u32)
}

/// A process's peak resident memory so far (`VmHWM`), in KiB.
pub fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
