//! The plan a validated canary implies: strategy, weight schedule, thresholds, checks and the
//! names of every object involved.
//!
//! Owns Flagger's strategy selection (`DeploymentStrategy`) and the run-time coercion of
//! `provider: kubernetes` to blue/green. Pure: returns notes instead of logging.

use crate::rollout::weights;
use crate::spec::duration::format_duration;
use crate::spec::model::{
    Autoscaler, Canary, HttpMatch, Metric, ObjectRef, Provider, Service, SessionAffinity, Webhook,
};
use crate::spec::path::FieldPath;
use std::time::Duration;

/// Iterations Flagger forces for `provider: kubernetes` when none are set.
const KUBERNETES_DEFAULT_ITERATIONS: u32 = 10;

/// How traffic moves to the new version.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// Weighted canary: the canary weight rises through `weights`, then promotion.
    Canary {
        /// Every weight set before promotion, in order (Flagger's arithmetic, overshoot included).
        weights: Vec<u32>,
        /// Promotion starts once the canary weight reaches this.
        max_weight: u32,
        /// `stepWeight` (0 when `stepWeights` is used).
        step_weight: u32,
        /// `stepWeights`.
        step_weights: Vec<u32>,
        /// Primary weight step during promotion (0: all at once).
        step_weight_promotion: u32,
        /// Mirror the first step (providers that can).
        mirror: bool,
    },
    /// A/B testing: matching requests go to the canary for `iterations` checks.
    AbTesting {
        /// Analysis iterations.
        iterations: u32,
        /// Request conditions.
        matches: Vec<HttpMatch>,
    },
    /// Blue/green: the canary is tested without live traffic for `iterations` checks, then
    /// switched over.
    BlueGreen {
        /// Analysis iterations.
        iterations: u32,
        /// Mirror live traffic to the canary (providers that can).
        mirror: bool,
    },
}

impl Strategy {
    /// `canary`, `ab-testing` or `blue-green`.
    pub fn kind(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::AbTesting { .. } => "ab-testing",
            Strategy::BlueGreen { .. } => "blue-green",
        }
    }

    /// Analysis ticks before promotion starts.
    pub fn steps(&self) -> usize {
        match self {
            Strategy::Canary { weights, .. } => weights.len(),
            Strategy::AbTesting { iterations, .. } | Strategy::BlueGreen { iterations, .. } => {
                *iterations as usize
            }
        }
    }
}

/// The objects a canary involves (Flagger's naming, reference §3.9 and §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The apex Service (`service.name`, default the target's name).
    pub apex: String,
    /// `<apex>-primary` Service.
    pub primary_service: String,
    /// `<apex>-canary` Service.
    pub canary_service: String,
    /// The user's workload (canary pods).
    pub target: String,
    /// `<target>-primary` workload.
    pub primary_workload: String,
    /// The user's Ingress (NGINX).
    pub ingress: Option<String>,
    /// `<ingress>-canary` Ingress (NGINX).
    pub canary_ingress: Option<String>,
    /// The HTTPRoute (Gateway API): named after the apex Service.
    pub route: Option<String>,
    /// The user's ApisixRoute (`spec.routeRef`, APISIX).
    pub route_ref: Option<String>,
    /// The Upstream whose settings Gloo's Upstreams copy (`spec.upstreamRef`): namespace (default
    /// the canary's) and name.
    pub upstream_ref: Option<(Option<String>, String)>,
    /// Kuma's mesh: the Canary's `kuma.io/mesh` annotation, else `default`.
    pub mesh: String,
    /// ConfigMap (state) and Lease (lock): `canary-gate.<canary>`.
    pub state: String,
}

/// Something the plan changed or chose that the spec did not say, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanNote {
    /// The field it is about.
    pub path: FieldPath,
    /// What happened.
    pub message: String,
}

/// `<name>-primary`: the primary copy of a workload, Service, ConfigMap, Secret or HPA.
pub fn primary_name(name: &str) -> String {
    format!("{name}-primary")
}

/// `<name>-canary`: the Service and Ingress that carry the canary's traffic.
pub fn canary_name(name: &str) -> String {
    format!("{name}-canary")
}

/// `canary-gate.<canary>`: the state ConfigMap and the run lock's Lease.
pub fn state_name(canary: &str) -> String {
    format!("canary-gate.{canary}")
}

/// What `run` will do for one canary.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Canary name.
    pub name: String,
    /// Canary namespace, when the spec sets it.
    pub namespace: Option<String>,
    /// The routing provider in effect.
    pub provider: Provider,
    /// The workload.
    pub target: ObjectRef,
    /// How traffic moves.
    pub strategy: Strategy,
    /// Time between analysis ticks.
    pub interval: Duration,
    /// Failed checks that trigger rollback.
    pub threshold: u32,
    /// A revision that makes no progress for this long is rolled back.
    pub progress_deadline: Duration,
    /// Promote without analysis.
    pub skip_analysis: bool,
    /// Do nothing.
    pub suspend: bool,
    /// Checks run at every tick.
    pub metrics: Vec<Metric>,
    /// Gates and hooks.
    pub webhooks: Vec<Webhook>,
    /// Percent of updated primary replicas that must be available.
    pub primary_ready_threshold: u32,
    /// Percent of updated canary replicas that must be available.
    pub canary_ready_threshold: u32,
    /// Object names.
    pub names: Names,
    /// `spec.service`: the Services and the route (absent for a Service target without it).
    pub service: Option<Service>,
    /// `spec.autoscalerRef`.
    pub autoscaler: Option<Autoscaler>,
    /// `analysis.sessionAffinity`: the sticky cookie routers set.
    pub session_affinity: Option<SessionAffinity>,
    /// `analysis.mirrorWeight`: the share of mirrored traffic where a router supports it.
    pub mirror_weight: u32,
    /// `spec.metricsServer`.
    pub metrics_server: Option<String>,
}

impl Plan {
    /// The plan for a validated canary, and what it decided on the spec's behalf.
    pub fn new(c: &Canary) -> (Plan, Vec<PlanNote>) {
        let mut notes = Vec::new();
        let a = &c.analysis;
        let (iterations, matches) = kubernetes_coercion(c, &mut notes);
        let strategy = strategy(c, iterations, matches);
        overshoot_note(c, &strategy, &mut notes);
        let names = names(c);
        let plan = Plan {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
            provider: c.effective_provider,
            target: c.target.clone(),
            strategy,
            interval: a.interval,
            threshold: a.threshold,
            progress_deadline: c.progress_deadline,
            skip_analysis: c.skip_analysis,
            suspend: c.suspend,
            metrics: a.metrics.clone(),
            webhooks: a.webhooks.clone(),
            primary_ready_threshold: a.primary_ready_threshold,
            canary_ready_threshold: a.canary_ready_threshold,
            names,
            service: c.service.clone(),
            autoscaler: c.autoscaler.clone(),
            session_affinity: a.session_affinity.clone(),
            mirror_weight: a.mirror_weight,
            metrics_server: c.metrics_server.clone(),
        };
        (plan, notes)
    }

    /// Least time from the first step to promotion: `interval × steps` (Flagger's formula).
    pub fn time_to_promote(&self) -> Duration {
        self.interval * self.strategy.steps() as u32
    }

    /// Time from the first failing check to rollback: `interval × threshold`.
    pub fn time_to_rollback(&self) -> Duration {
        self.interval * self.threshold
    }

    /// One line for people: strategy, schedule, timing and checks.
    pub fn summary(&self) -> String {
        let how = match &self.strategy {
            Strategy::Canary { weights, .. } => {
                let w: Vec<String> = weights.iter().map(|w| format!("{w}%")).collect();
                format!("canary, weights {}", w.join(" → "))
            }
            Strategy::AbTesting { iterations, .. } => {
                format!("A/B testing, {iterations} iterations")
            }
            Strategy::BlueGreen { iterations, mirror } => format!(
                "blue/green, {iterations} iterations{}",
                if *mirror { " with mirroring" } else { "" }
            ),
        };
        let mut line = format!(
            "{how} via {}, every {}; promotion after ≥ {}, rollback after {} failed checks (≥ {})",
            self.provider.as_str(),
            format_duration(self.interval),
            format_duration(self.time_to_promote()),
            self.threshold,
            format_duration(self.time_to_rollback()),
        );
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        line.push_str(&format!(
            "; {}, {}",
            plural(self.metrics.len(), "metric"),
            plural(self.webhooks.len(), "webhook")
        ));
        if self.skip_analysis {
            line.push_str("; skipAnalysis: promoted without checks");
        }
        line
    }
}

/// Applies Flagger's coercion of `provider: kubernetes` to blue/green: its request matches are
/// cleared and, when unset, its iterations defaulted, with a note for each. Returns the
/// iterations and matches to plan with.
fn kubernetes_coercion(c: &Canary, notes: &mut Vec<PlanNote>) -> (u32, Vec<HttpMatch>) {
    let a = &c.analysis;
    let mut iterations = a.iterations;
    let mut matches = a.matches.clone();
    if c.effective_provider == Provider::Kubernetes {
        if !matches.is_empty() {
            matches.clear();
            notes.push(PlanNote {
                path: a.path.key("match"),
                message:
                    "cleared: provider kubernetes cannot route by request, so this runs blue/green"
                        .into(),
            });
        }
        if iterations < 1 {
            iterations = KUBERNETES_DEFAULT_ITERATIONS;
            notes.push(PlanNote {
                path: a.path.clone(),
                message: format!(
                    "provider kubernetes runs blue/green: {KUBERNETES_DEFAULT_ITERATIONS} iterations are used, as Flagger does (set iterations to choose)"
                ),
            });
        }
    }
    (iterations, matches)
}

/// Chooses the strategy as Flagger does: A/B with matches and iterations, blue/green with
/// iterations alone, otherwise a weighted canary.
fn strategy(c: &Canary, iterations: u32, matches: Vec<HttpMatch>) -> Strategy {
    let a = &c.analysis;
    let mirror_capable = matches!(
        c.effective_provider,
        Provider::Istio | Provider::GatewayApiV1 | Provider::GatewayApiV1beta1
    );
    if !matches.is_empty() && iterations > 0 {
        Strategy::AbTesting {
            iterations,
            matches,
        }
    } else if iterations > 0 {
        Strategy::BlueGreen {
            iterations,
            mirror: a.mirror && mirror_capable,
        }
    } else {
        let step_weight = a.step_weight.unwrap_or(0);
        Strategy::Canary {
            weights: weights::schedule(step_weight, &a.step_weights, a.max_weight),
            max_weight: weights::max_weight(&a.step_weights, a.max_weight),
            step_weight,
            step_weights: a.step_weights.clone(),
            step_weight_promotion: a.step_weight_promotion,
            mirror: a.mirror && mirror_capable,
        }
    }
}

/// Notes when a canary schedule's last weight goes past `maxWeight`, as Flagger's arithmetic allows.
fn overshoot_note(c: &Canary, strategy: &Strategy, notes: &mut Vec<PlanNote>) {
    if let Strategy::Canary {
        weights,
        max_weight,
        ..
    } = strategy
        && let Some(&last) = weights.last()
        && last > *max_weight
    {
        notes.push(PlanNote {
            path: c.analysis.path.key("maxWeight"),
            message: format!(
                "the last step overshoots maxWeight {max_weight}: the canary reaches {last}% before promotion, as in Flagger"
            ),
        });
    }
}

/// Names every object the canary involves, after Flagger's conventions.
fn names(c: &Canary) -> Names {
    let apex = c
        .service
        .as_ref()
        .map_or_else(|| c.target.name.clone(), |s| s.name.clone());
    let gateway = matches!(
        c.effective_provider,
        Provider::GatewayApiV1 | Provider::GatewayApiV1beta1
    );
    Names {
        primary_service: primary_name(&apex),
        canary_service: canary_name(&apex),
        target: c.target.name.clone(),
        primary_workload: primary_name(&c.target.name),
        ingress: c.ingress.clone(),
        canary_ingress: c.ingress.as_deref().map(canary_name),
        route: gateway.then(|| apex.clone()),
        route_ref: c.route_ref.clone(),
        upstream_ref: c.upstream_ref.clone(),
        mesh: c.mesh.clone().unwrap_or_else(|| "default".into()),
        state: state_name(&c.name),
        apex,
    }
}
