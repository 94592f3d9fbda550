//! The executor: the only loop that awaits. Observe (workload, router) → run the checks the core
//! asks for → `rollout::step` → apply the actions in order → save the state → tell people.
//! A tick reads what it needs once and writes only what changed.

use crate::commands::init::Cluster;
use crate::error::Error;
use crate::k8s::events::{self, Involved};
use crate::k8s::state_store::StateStore;
use crate::metrics::prometheus::{Auth, Endpoint};
use crate::metrics::{self, queries};
use crate::rollout::analysis::judge;
use crate::rollout::{
    Action, CheckKind, Checks, Decision, GateOutcome, Health, MetricOutcome, NoteKind, Observed,
    Phase, Plan, RolloutState, Routes, Step, Strategy, step,
};
use crate::router::{gateway_api, nginx};
use crate::spec::model::{Canary, HookKind, MetricTemplate, Provider, TargetKind};
use crate::webhooks::{Caller, Payload, phase_name};
use crate::workload::deployment::DeploymentWorkload;
use crate::workload::{hash_json, service_target};
use std::time::Duration;

/// Everything one canary's ticks need.
pub struct Executor<'a> {
    /// The client.
    pub client: &'a kube::Client,
    /// The canary's namespace.
    pub namespace: String,
    /// The validated spec.
    pub canary: &'a Canary,
    /// Its plan.
    pub plan: Plan,
    /// Cluster options.
    pub cluster: &'a Cluster,
    /// `<namespace>/<name>`.
    pub owner: String,
    /// Webhook caller.
    pub hooks: Caller,
    /// HTTP client for metric queries.
    pub http: reqwest::Client,
    /// The same, skipping TLS verification (`insecureSkipVerify`).
    pub insecure_http: reqwest::Client,
    /// MetricTemplates from the spec files.
    pub templates: &'a [MetricTemplate],
    /// Prometheus address when neither the template nor the spec names one.
    pub metrics_server: String,
    /// Metric values and webhook answers of the current tick.
    pub measured: std::sync::Mutex<Measured>,
    /// The split as this process last read or wrote it: the route is read from the cluster on
    /// the first tick only, then known from our own writes (one GET less per tick).
    pub routes_seen: std::sync::Mutex<Option<Routes>>,
    /// The target revision the last observation saw (names the sticky session cookie).
    pub revision: std::sync::Mutex<Option<String>>,
}

/// What the checks of one tick found, for the step history.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Metric values against their ranges.
    pub metrics: Vec<crate::rollout::MetricRecord>,
    /// Webhook calls.
    pub hooks: Vec<crate::rollout::HookRecord>,
}

impl Executor<'_> {
    fn workload(&self) -> DeploymentWorkload<'_> {
        DeploymentWorkload {
            client: self.client,
            namespace: &self.namespace,
            target: &self.canary.target.name,
            opts: &self.cluster.workload,
            owner: &self.owner,
        }
    }

    fn canary_ingress(&self) -> Option<&str> {
        (self.plan.provider == Provider::Nginx).then_some(())?;
        self.plan.names.canary_ingress.as_deref()
    }

    fn ab_matches(&self) -> &[crate::spec::model::HttpMatch] {
        match &self.plan.strategy {
            Strategy::AbTesting { matches, .. } => matches,
            _ => &[],
        }
    }

    fn route(&self) -> Option<gateway_api::render::RouteInput<'_>> {
        gateway_api::input(self.canary, &self.plan, &self.namespace)
    }

    /// The live routes: read from the cluster the first time, then as this process wrote them.
    /// An HTTPRoute is read every time: its parents must accept each generation we write.
    pub async fn routes(&self) -> Result<Routes, Error> {
        if self.route().is_none()
            && let Some(r) = self.routes_seen.lock().ok().and_then(|r| *r)
        {
            return Ok(r);
        }
        let read = self.read_routes().await?;
        if let Ok(mut seen) = self.routes_seen.lock() {
            *seen = Some(read);
        }
        Ok(read)
    }

    /// Reads the live routes from the cluster.
    pub async fn read_routes(&self) -> Result<Routes, Error> {
        if let Some(route) = self.route() {
            return gateway_api::read_routes(self.client, &route, self.canary.progress_deadline)
                .await;
        }
        match self.canary_ingress() {
            Some(ing) => {
                nginx::read_routes(
                    self.client,
                    &self.namespace,
                    ing,
                    !self.ab_matches().is_empty(),
                    &self.cluster.ingress_prefix,
                )
                .await
            }
            None => Ok(Routes {
                primary: 100,
                canary: 0,
                mirrored: false,
            }),
        }
    }

    /// What the tick starts from.
    pub async fn observe(&self) -> Result<Observed, Error> {
        let routes = self.routes().await?;
        if self.canary.target.kind == TargetKind::Service {
            let (target, _) = service_target::initialize(
                self.client,
                &self.namespace,
                &self.canary.target.name,
                &self.owner,
            )
            .await?;
            return Ok(Observed {
                target_hash: service_target::spec_hash(&target),
                tracked_configs: Default::default(),
                canary: Health::Ready,
                primary: Health::Ready,
                routes,
            });
        }
        let w = self.workload();
        let target = w.read_target().await?;
        let tracked = w.track(&target, false).await?;
        let deadline = self.canary.progress_deadline;
        let canary = crate::workload::readiness::deployment_health(
            &target.deployment,
            self.canary.analysis.canary_ready_threshold,
            deadline,
            k8s_openapi::jiff::Timestamp::now(),
        );
        let primary = w
            .primary_health(self.canary.analysis.primary_ready_threshold, deadline)
            .await?;
        if let Ok(mut r) = self.revision.lock() {
            *r = Some(target.template_hash.clone());
        }
        Ok(Observed {
            target_hash: target.template_hash,
            tracked_configs: tracked.checksums,
            canary,
            primary,
            routes,
        })
    }

    fn payload(&self, state: &RolloutState, phase: Phase) -> Payload {
        Payload {
            name: self.canary.name.clone(),
            namespace: self.namespace.clone(),
            phase: phase_name(phase),
            checksum: hash_json(&(&state.tracked_configs, &state.last_applied_spec)),
            metadata: Default::default(),
        }
    }

    async fn run_check(&self, kind: CheckKind, state: &RolloutState) -> GateOutcome {
        let hooks = &self.plan.webhooks;
        let (hook, phase) = match kind {
            CheckKind::ConfirmRollout => (HookKind::ConfirmRollout, state.phase),
            CheckKind::Rollback => (HookKind::Rollback, state.phase),
            CheckKind::PreRollout => (HookKind::PreRollout, Phase::Progressing),
            CheckKind::ConfirmTrafficIncrease => {
                (HookKind::ConfirmTrafficIncrease, Phase::Progressing)
            }
            CheckKind::ConfirmPromotion => (HookKind::ConfirmPromotion, Phase::Progressing),
            CheckKind::Analysis => {
                let (gate, records) = self
                    .hooks
                    .gate(
                        hooks,
                        HookKind::Rollout,
                        &self.payload(state, Phase::Progressing),
                    )
                    .await;
                self.record_hooks(records);
                if let GateOutcome::Closed(why) = gate {
                    return GateOutcome::Closed(format!(
                        "Halt advancement: rollout webhook failed: {why}"
                    ));
                }
                return self.check_metrics().await;
            }
        };
        let (gate, records) = self
            .hooks
            .gate(hooks, hook, &self.payload(state, phase))
            .await;
        self.record_hooks(records);
        gate
    }

    fn record_hooks(&self, records: Vec<crate::rollout::HookRecord>) {
        if let Ok(mut m) = self.measured.lock() {
            m.hooks.extend(records);
        }
    }

    /// Where and what to query for one metric (a built-in and a template may both apply): the
    /// template from the spec files or the cluster, its Secret's credentials attached.
    pub async fn queries_for(
        &self,
        m: &crate::spec::model::Metric,
    ) -> Result<Vec<(Endpoint, String)>, String> {
        let ctx = self.query_context();
        let template = match &m.template {
            None => None,
            Some(r) => {
                let want_ns = r.namespace.as_deref().unwrap_or(&self.namespace);
                match queries::find_template(self.templates, r, &self.namespace) {
                    Some(t) => Some(t.clone()),
                    None => Some(
                        crate::k8s::read_template(self.client, want_ns, &r.name)
                            .await
                            .map_err(|why| format!("metric {}: {why}", m.name))?,
                    ),
                }
            }
        };
        let mut out = queries::render(&ctx, m, template.as_ref())?;
        if let Some(t) = &template
            && let Some(secret) = &t.secret
        {
            // The template's namespace: its own, else the one the reference named.
            let named = m.template.as_ref().and_then(|r| r.namespace.as_deref());
            let ns = t.namespace.as_deref().or(named).unwrap_or(&self.namespace);
            let auth = self.credentials(ns, secret).await?;
            // The template's query is the last one (after a built-in of the same name).
            if let Some((endpoint, _)) = out.last_mut() {
                endpoint.auth = Some(auth);
            }
        }
        Ok(out)
    }

    /// What query rendering needs to know about this canary.
    pub fn query_context(&self) -> queries::Context<'_> {
        queries::Context {
            canary: self.canary,
            plan: &self.plan,
            namespace: &self.namespace,
            default_server: &self.metrics_server,
        }
    }

    /// `token`, or `username` + `password`, from a template's Secret.
    async fn credentials(&self, namespace: &str, secret: &str) -> Result<Auth, String> {
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(self.client.clone(), namespace);
        let s = api.get(secret).await.map_err(|e| {
            format!(
                "reading secret/{secret} in {namespace}: {}",
                crate::k8s::write::describe(&e)
            )
        })?;
        let data = s.data.unwrap_or_default();
        let text = |k: &str| {
            data.get(k)
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        };
        let secret_value = |v: String| {
            crate::report::console::mask(&v);
            v
        };
        match (text("token"), text("username"), text("password")) {
            (Some(t), _, _) => Ok(Auth::Bearer(secret_value(t))),
            (None, Some(u), Some(p)) => Ok(Auth::Basic(u, secret_value(p))),
            _ => Err(format!(
                "secret/{secret} in {namespace} has neither token nor username and password"
            )),
        }
    }

    /// Flagger's provider check at the start: every metrics server must answer `vector(1)`.
    /// Unreachable servers are reported (and their checks will fail); nothing is blocked.
    pub async fn check_providers(&self) {
        let mut seen = Vec::new();
        for m in &self.plan.metrics {
            let Ok(queries) = self.queries_for(m).await else {
                continue;
            };
            for (endpoint, _) in queries {
                if seen.contains(&endpoint.address) {
                    continue;
                }
                seen.push(endpoint.address.clone());
                let client = if endpoint.insecure {
                    &self.insecure_http
                } else {
                    &self.http
                };
                if let Err(why) = metrics::prometheus::is_online(client, &endpoint).await {
                    println!(
                        "{}/{}: warning: metrics server {} is not answering: {why}",
                        self.namespace,
                        self.canary.name,
                        crate::report::redact_url(&endpoint.address)
                    );
                }
            }
        }
    }

    async fn check_metrics(&self) -> GateOutcome {
        for m in &self.plan.metrics {
            let queries = match self.queries_for(m).await {
                Ok(q) => q,
                Err(why) => return GateOutcome::Closed(why),
            };
            for (endpoint, q) in queries {
                let client = if endpoint.insecure {
                    &self.insecure_http
                } else {
                    &self.http
                };
                let outcome = metrics::prometheus::query_at(client, &endpoint, &q).await;
                if let MetricOutcome::Value(v) = outcome {
                    tracing::info!("{}: {} = {v:.2}", self.plan.name, m.name);
                }
                let verdict = judge(m, &outcome);
                if let Ok(mut measured) = self.measured.lock() {
                    measured.metrics.push(crate::rollout::MetricRecord {
                        name: m.name.clone(),
                        value: match outcome {
                            MetricOutcome::Value(v) => Some(v),
                            _ => None,
                        },
                        min: m.min,
                        max: m.max,
                        passed: verdict.is_ok(),
                        reason: verdict.clone().err(),
                    });
                }
                if let Err(why) = verdict {
                    return GateOutcome::Closed(why);
                }
            }
        }
        GateOutcome::Open
    }

    /// Applies one action.
    pub async fn apply(&self, action: &Action) -> Result<(), Error> {
        match action {
            Action::SetRoutes(r) => {
                if let Some(route) = self.route() {
                    let cookie = self
                        .canary
                        .analysis
                        .session_affinity
                        .as_ref()
                        .and_then(|a| {
                            let revision = self.revision.lock().ok()?.clone()?;
                            Some(gateway_api::render::cookie_for(a, &revision))
                        });
                    gateway_api::set_routes(self.client, &route, *r, cookie.as_deref()).await?;
                } else if let Some(ing) = self.canary_ingress() {
                    let matches = if r.canary == 100 && r.primary == 0 {
                        self.ab_matches()
                    } else {
                        &[]
                    };
                    let written = nginx::set_routes(
                        self.client,
                        &self.namespace,
                        ing,
                        r.canary,
                        matches,
                        &self.cluster.ingress_prefix,
                    )
                    .await;
                    if let Ok(mut seen) = self.routes_seen.lock() {
                        // After a failed write the split is unknown: read it on the next tick.
                        *seen = written.as_ref().ok().map(|_| *r);
                    }
                    written?;
                }
                Ok(())
            }
            Action::ScaleTargetToZero if self.canary.target.kind == TargetKind::Deployment => {
                let w = self.workload();
                let t = w.read_target().await?;
                w.scale_target_to_zero(&t).await.map(|_| ())
            }
            Action::ScaleTargetFromZero if self.canary.target.kind == TargetKind::Deployment => {
                let w = self.workload();
                let t = w.read_target().await?;
                let hpa_min = None;
                w.scale_target_from_zero(&t, hpa_min).await.map(|_| ())
            }
            Action::PromotePrimary => match self.canary.target.kind {
                TargetKind::Service => {
                    service_target::promote(
                        self.client,
                        &self.namespace,
                        &self.canary.target.name,
                        &self.owner,
                    )
                    .await
                }
                _ => {
                    let w = self.workload();
                    let t = w.read_target().await?;
                    w.promote(&t, self.canary.autoscaler.is_some()).await
                }
            },
            Action::PostRollout(phase) => {
                let state = RolloutState {
                    phase: *phase,
                    ..RolloutState::default()
                };
                if let (GateOutcome::Closed(why), _) = self
                    .hooks
                    .gate(
                        &self.plan.webhooks,
                        HookKind::PostRollout,
                        &self.payload(&state, *phase),
                    )
                    .await
                {
                    tracing::warn!("{}: post-rollout webhook failed: {why}", self.plan.name);
                }
                Ok(())
            }
            Action::ScaleTargetToZero | Action::ScaleTargetFromZero => Ok(()),
        }
    }

    /// One tick: observe, decide, apply, save, tell.
    pub async fn tick(&self, store: &mut StateStore) -> Result<Decision, Error> {
        let state = store.state().cloned().unwrap_or_default();
        let obs = self.observe().await?;
        let mut checks = Checks::new();
        if let Ok(mut m) = self.measured.lock() {
            *m = Measured::default();
        }
        let decision = loop {
            match step(&self.plan, &state, &obs, &checks) {
                Step::Need(kind) => {
                    let outcome = self.run_check(kind, &state).await;
                    checks.insert(kind, outcome);
                }
                Step::Decided(d) => break *d,
            }
        };
        let metrics = self.measured.lock().map(|m| m.clone()).unwrap_or_default();
        self.commit(store, decision, obs.routes.canary, metrics)
            .await
    }

    /// Carries out a decision: the actions in order, a step-history entry when something
    /// happened, the state, then the notes.
    pub async fn commit(
        &self,
        store: &mut StateStore,
        mut decision: Decision,
        observed_weight: u32,
        measured: Measured,
    ) -> Result<Decision, Error> {
        // A raise of the canary weight is stored before it is made, so the live weight is never
        // above the stored one (a crash in between resumes from the higher stored weight, and
        // the next observation sees the route as it is). Everything else is done, then stored.
        let raises = decision
            .actions
            .iter()
            .any(|a| matches!(a, Action::SetRoutes(r) if r.canary > observed_weight));
        if !decision.notes.is_empty() || !measured.metrics.is_empty() || !measured.hooks.is_empty()
        {
            let weight = decision
                .actions
                .iter()
                .rev()
                .find_map(|a| match a {
                    Action::SetRoutes(r) => Some(r.canary),
                    _ => None,
                })
                .unwrap_or(observed_weight);
            let history = &mut decision.state.history;
            history.push(crate::rollout::StepRecord {
                at: k8s_openapi::jiff::Timestamp::now().to_string(),
                phase: decision.state.phase,
                weight,
                failed_checks: decision.state.failed_checks,
                metrics: measured.metrics,
                hooks: measured.hooks,
                notes: decision.notes.iter().map(|n| n.message.clone()).collect(),
            });
            let excess = history.len().saturating_sub(200);
            history.drain(..excess);
        }
        let before = store.state().map(|s| s.phase);
        if raises {
            store.save(&decision.state).await?;
        }
        for a in &decision.actions {
            self.apply(a).await?;
        }
        if !raises {
            store.save(&decision.state).await?;
        }
        self.tell(&decision, before != Some(decision.state.phase))
            .await;
        Ok(decision)
    }

    /// Notes to the log and the event webhooks; warnings and the notes of a phase change
    /// (`transition`) also become Events on the target. A routine step ("advance canary weight")
    /// is in the state's step history, the log and the check run, not in an Event: that keeps a
    /// steady tick to the requests that move traffic.
    pub async fn tell(&self, decision: &Decision, transition: bool) {
        let involved = Involved {
            api_version: if self.canary.target.kind == TargetKind::Service {
                "v1"
            } else {
                "apps/v1"
            },
            kind: if self.canary.target.kind == TargetKind::Service {
                "Service"
            } else {
                "Deployment"
            },
            namespace: &self.namespace,
            name: &self.canary.target.name,
            uid: None,
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        for n in &decision.notes {
            let warning = n.kind == NoteKind::Warning;
            println!("{}/{}: {}", self.namespace, self.canary.name, n.message);
            if warning || transition {
                events::record(
                    self.client,
                    &involved,
                    if warning { "Warning" } else { "Normal" },
                    "Synced",
                    &n.message,
                )
                .await;
            }
            self.hooks
                .event(
                    &self.plan.webhooks,
                    &self.payload(&decision.state, decision.state.phase),
                    &n.message,
                    warning,
                    now_ms,
                )
                .await;
        }
    }

    /// Cancellation (or a timeout): see [`crate::rollout::manual::cancel`].
    pub async fn abort(&self, store: &mut StateStore, reason: &str) -> Result<(), Error> {
        let state = store.state().cloned().unwrap_or_default();
        if let Some(d) = crate::rollout::manual::cancel(&state, reason) {
            self.commit(store, d, state.canary_weight, Measured::default())
                .await?;
        }
        Ok(())
    }

    /// The plan's interval.
    pub fn interval(&self) -> Duration {
        self.plan.interval
    }
}
