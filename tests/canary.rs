//! One Canary builder for the tests and the benchmarks: the spec reads like the situation it sets
//! up, e.g. `canary("podinfo").nginx().step_weight(20).max_weight(60).success_rate(99)`.
//! The text it writes is the fixture app's shape (`test` namespace, port 80 → 9898), one field
//! per line, so a test that counts spec lines can still find them.

#![allow(dead_code)]

/// A Canary being described.
#[derive(Clone, Debug)]
pub struct CanaryYaml {
    name: String,
    namespace: String,
    provider: Option<String>,
    spec_lines: Vec<String>,
    target: (String, String),
    ingress: bool,
    service: String,
    analysis: Vec<String>,
    metrics: Vec<String>,
    webhooks: Vec<String>,
}

/// A Canary named `name` whose Deployment, Service and Ingress share the name, in `test`.
pub fn canary(name: &str) -> CanaryYaml {
    CanaryYaml {
        name: name.to_string(),
        namespace: "test".into(),
        provider: None,
        spec_lines: Vec::new(),
        target: ("apps/v1".into(), "Deployment".into()),
        ingress: false,
        service: "{port: 80, targetPort: 9898}".into(),
        analysis: Vec::new(),
        metrics: Vec::new(),
        webhooks: Vec::new(),
    }
}

impl CanaryYaml {
    /// `provider: nginx` with `ingressRef` to the Ingress of the same name.
    pub fn nginx(mut self) -> Self {
        self.provider = Some("nginx".into());
        self.ingress = true;
        self
    }

    /// `provider: <p>`, e.g. `gatewayapi:v1`.
    pub fn provider(mut self, p: &str) -> Self {
        self.provider = Some(p.into());
        self
    }

    /// `provider: kubernetes` (blue/green, no L7 routing).
    pub fn kubernetes(mut self) -> Self {
        self.provider = Some("kubernetes".into());
        self
    }

    /// A Service target (`targetRef: {apiVersion: v1, kind: Service}`).
    pub fn service_target(mut self) -> Self {
        self.target = ("v1".into(), "Service".into());
        self
    }

    /// `spec.metricsServer`.
    pub fn metrics_server(self, url: &str) -> Self {
        self.spec(&format!("metricsServer: {url}"))
    }

    /// A raw line under `spec:` (before `targetRef`), e.g. `skipAnalysis: true`.
    pub fn spec(mut self, line: &str) -> Self {
        self.spec_lines.push(line.to_string());
        self
    }

    /// `spec.service` as a flow mapping, e.g. `{port: 80, targetPort: http}`.
    pub fn service(mut self, flow: &str) -> Self {
        self.service = flow.to_string();
        self
    }

    /// `analysis.interval`.
    pub fn interval(self, every: &str) -> Self {
        self.analysis(&format!("interval: {every}"))
    }

    /// `analysis.threshold`.
    pub fn threshold(self, n: u32) -> Self {
        self.analysis(&format!("threshold: {n}"))
    }

    /// `analysis.stepWeight`.
    pub fn step_weight(self, n: u32) -> Self {
        self.analysis(&format!("stepWeight: {n}"))
    }

    /// `analysis.maxWeight`.
    pub fn max_weight(self, n: u32) -> Self {
        self.analysis(&format!("maxWeight: {n}"))
    }

    /// `analysis.iterations`.
    pub fn iterations(self, n: u32) -> Self {
        self.analysis(&format!("iterations: {n}"))
    }

    /// A raw line under `analysis:`, e.g. `stepWeights: [5, 10]`.
    pub fn analysis(mut self, line: &str) -> Self {
        self.analysis.push(line.to_string());
        self
    }

    /// Raw lines under `analysis:`, indented by four spaces as they would be in the spec.
    pub fn analysis_lines(mut self, text: &str) -> Self {
        for l in text.lines() {
            self.analysis
                .push(l.strip_prefix("    ").unwrap_or(l).to_string());
        }
        self
    }

    /// One `analysis.metrics` item as a flow mapping.
    pub fn metric(mut self, flow: &str) -> Self {
        self.metrics.push(flow.to_string());
        self
    }

    /// The built-in `request-success-rate` check over `interval` with a minimum.
    pub fn success_rate(self, interval: &str, min: u32) -> Self {
        self.metric(&format!(
            "{{name: request-success-rate, interval: {interval}, thresholdRange: {{min: {min}}}}}"
        ))
    }

    /// One `analysis.webhooks` item as a flow mapping.
    pub fn webhook(mut self, flow: &str) -> Self {
        self.webhooks.push(flow.to_string());
        self
    }

    /// The spec as YAML.
    pub fn yaml(&self) -> String {
        let name = &self.name;
        let mut out = format!(
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: {name}, namespace: {}}}\nspec:\n",
            self.namespace
        );
        if let Some(p) = &self.provider {
            out.push_str(&format!("  provider: {p}\n"));
        }
        for l in &self.spec_lines {
            out.push_str(&format!("  {l}\n"));
        }
        let (api_version, kind) = &self.target;
        out.push_str(&format!(
            "  targetRef: {{apiVersion: {api_version}, kind: {kind}, name: {name}}}\n"
        ));
        if self.ingress {
            out.push_str(&format!(
                "  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: {name}}}\n"
            ));
        }
        out.push_str(&format!("  service: {}\n  analysis:\n", self.service));
        for l in &self.analysis {
            out.push_str(&format!("    {l}\n"));
        }
        for (key, items) in [("metrics", &self.metrics), ("webhooks", &self.webhooks)] {
            if !items.is_empty() {
                out.push_str(&format!("    {key}:\n"));
                for i in items {
                    out.push_str(&format!("      - {i}\n"));
                }
            }
        }
        out
    }
}
