//! The scenarios both drivers run: one Canary spec each (the same text for Flagger's Canary
//! object and canary-gate's spec file; only the metrics server and the webhook stand-in's address
//! differ), the release that starts it and the verdict Flagger's own e2e tests expect. Must not
//! start anything.

/// One scenario.
pub struct Scenario {
    /// Short name (the table's first column).
    pub name: &'static str,
    /// The Canary, with `METRICS` and `HOOKS` in place of the two addresses.
    pub spec: &'static str,
    /// The release's podinfo tag and pod error rate.
    pub release: (&'static str, &'static str),
    /// The verdict expected of both.
    pub expect: Verdict,
    /// Objects the scenario needs besides the app (a Gateway).
    pub extra: &'static str,
}

/// How a rollout ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Promoted.
    Succeeded,
    /// Rolled back.
    Failed,
    /// Neither within the time allowed.
    Unfinished,
}

impl Verdict {
    /// As the table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Succeeded => "promoted",
            Verdict::Failed => "rolled back",
            Verdict::Unfinished => "unfinished",
        }
    }
}

/// A scenario's Canary: the part every scenario shares (podinfo, the metrics server, a 120 s
/// progress deadline) with `provider`, then `rest` (the service and the analysis). A string
/// literal, so each scenario stays a `&'static str` to read as one spec.
macro_rules! canary {
    ($provider:literal, $rest:expr) => {
        concat!(
            "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: ",
            $provider,
            "
  metricsServer: METRICS
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 120
",
            $rest
        )
    };
}

/// The analysis every weighted scenario but the webhooks one runs: 20 % steps up to 60 % at
/// Flagger's minimum interval, threshold 2, then `metrics`.
macro_rules! steps {
    ($metrics:expr) => {
        concat!(
            "  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
",
            $metrics
        )
    };
}

/// The built-in success-rate check (at least 99 %).
macro_rules! success {
    () => {
        "      - {name: request-success-rate, interval: 30s, thresholdRange: {min: 99}}\n"
    };
}

/// The built-in success-rate and latency (at most 500 ms) checks.
macro_rules! success_and_duration {
    () => {
        concat!(
            success!(),
            "      - {name: request-duration, interval: 30s, thresholdRange: {max: 500}}\n"
        )
    };
}

/// The NGINX Ingress the fixture app ships and the plain service.
macro_rules! nginx {
    () => {
        "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}
  service: {port: 80, targetPort: 9898}
"
    };
}

const NGINX: &str = canary!("nginx", concat!(nginx!(), steps!(success!())));

const NGINX_AB: &str = canary!(
    "nginx",
    concat!(
        nginx!(),
        "  analysis:
    interval: 10s
    threshold: 2
    iterations: 3
    match:
      - headers:
          x-canary: {exact: insider}
    metrics:
",
        success!()
    )
);

const BLUE_GREEN: &str = canary!(
    "kubernetes",
    "  service: {port: 80, targetPort: 9898}
  analysis:
    interval: 10s
    threshold: 2
    iterations: 3
    webhooks:
      - {name: smoke, type: rollout, url: HOOKS/rollout, timeout: 5s}
"
);

const GATEWAY: &str = canary!(
    "gatewayapi:v1",
    concat!(
        "  service:
    port: 80
    targetPort: 9898
    gatewayRefs:
      - {name: public, namespace: test}
    hosts: [app.example.com]
    apex:
      annotations: {canary-gate.dev/sim-rps: \"100\"}
",
        steps!(success!())
    )
);

const HOOKS: &str = canary!(
    "nginx",
    concat!(
        nginx!(),
        "  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 30
    maxWeight: 60
    metrics:
",
        success!(),
        "    webhooks:
      - {name: pre, type: pre-rollout, url: HOOKS/pre-rollout, timeout: 5s}
      - {name: load, type: rollout, url: HOOKS/rollout, timeout: 5s}
      - {name: confirm, type: confirm-promotion, url: HOOKS/confirm-promotion, timeout: 5s}
"
    )
);

const ISTIO: &str = canary!(
    "istio",
    concat!(
        "  service:
    port: 80
    targetPort: 9898
    timeout: 30s
    retries: {attempts: 3, perTryTimeout: 1s}
",
        steps!(success_and_duration!())
    )
);

const LINKERD: &str = canary!(
    "linkerd",
    concat!(
        "  service: {port: 80, targetPort: 9898}\n",
        steps!(success!())
    )
);

const CONTOUR: &str = canary!(
    "contour",
    concat!(
        "  service:
    port: 80
    targetPort: 9898
    timeout: 15s
    retries: {attempts: 3, perTryTimeout: 5s, retryOn: 5xx}
",
        steps!(success_and_duration!())
    )
);

/// The root HTTPProxy Flagger's Contour e2e writes, including the canary's.
const CONTOUR_ROOT: &str = "apiVersion: projectcontour.io/v1
kind: HTTPProxy
metadata:
  name: podinfo-ingress
  namespace: test
  annotations: {canary-gate.dev/sim-rps: \"100\"}
spec:
  virtualhost: {fqdn: app.example.com}
  includes: [{name: podinfo, namespace: test}]
";

const TRAEFIK: &str = canary!(
    "traefik",
    concat!(
        "  service: {port: 80, targetPort: 9898}\n",
        steps!(success_and_duration!())
    )
);

/// The IngressRoute Flagger's Traefik e2e writes, to the canary's TraefikService.
const TRAEFIK_ROUTE: &str = "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: podinfo
  namespace: test
  annotations: {canary-gate.dev/sim-rps: \"100\"}
spec:
  entryPoints: [web]
  routes:
    - match: Host(`app.example.com`)
      kind: Rule
      services: [{name: podinfo, kind: TraefikService}]
";

const GATEWAY_OBJECT: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: test}
spec:
  gatewayClassName: sim
  listeners: [{name: http, port: 80, protocol: HTTP}]
";

/// Every scenario, in the table's order.
pub fn all() -> Vec<Scenario> {
    let s = |name, spec, release, expect, extra| Scenario {
        name,
        spec,
        release,
        expect,
        extra,
    };
    vec![
        s(
            "nginx canary, healthy",
            NGINX,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            "",
        ),
        s(
            "nginx canary, faulty",
            NGINX,
            ("6.7.2", "0.5"),
            Verdict::Failed,
            "",
        ),
        s(
            "nginx A/B by header",
            NGINX_AB,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            "",
        ),
        s(
            "kubernetes blue/green",
            BLUE_GREEN,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            "",
        ),
        s(
            "gatewayapi:v1 canary",
            GATEWAY,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            GATEWAY_OBJECT,
        ),
        s(
            "nginx with webhooks",
            HOOKS,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            "",
        ),
        s(
            "istio canary, healthy",
            ISTIO,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            "",
        ),
        s(
            "istio canary, faulty",
            ISTIO,
            ("6.7.2", "0.5"),
            Verdict::Failed,
            "",
        ),
        s(
            "linkerd canary, healthy",
            LINKERD,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            "",
        ),
        s(
            "contour canary, healthy",
            CONTOUR,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            CONTOUR_ROOT,
        ),
        s(
            "contour canary, faulty",
            CONTOUR,
            ("6.7.2", "0.5"),
            Verdict::Failed,
            CONTOUR_ROOT,
        ),
        s(
            "traefik canary, healthy",
            TRAEFIK,
            ("6.7.1", "0"),
            Verdict::Succeeded,
            TRAEFIK_ROUTE,
        ),
    ]
}
