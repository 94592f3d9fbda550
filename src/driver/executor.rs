//! The executor: the only loop that awaits. Observe (workload, router) → run the checks the core
//! asks for → `rollout::step` → apply the actions in order → save the state → tell people.
//! A tick reads what it needs once and writes only what changed. Every runtime fact comes from
//! the `Plan`; the edges are reached only through their traits.

use super::edges::{Edges, Scope, choose};
use crate::error::Error;
use crate::k8s::desired::{self, ClusterRead};
use crate::k8s::events::{self, Involved};
use crate::k8s::state_store::StateStore;
use crate::metrics::checks::MetricChecks;
use crate::rollout::{
    Action, CheckKind, Decision, GateOutcome, HookRecord, MetricRecord, NoteKind, Observed, Phase,
    RolloutState, Routes, StepRecord, decide,
};
use crate::spec::model::HookKind;
use crate::webhooks::{Caller, Payload, phase_name};
use crate::workload::hash_json;
use std::time::Duration;

/// Everything one canary's ticks need.
pub struct Executor<'a> {
    client: &'a kube::Client,
    scope: Scope<'a>,
    edges: Edges<'a>,
    hooks: Caller,
    metrics: MetricChecks<'a>,
    /// The split as this process last read or wrote it, for routers that trust their writes.
    routes_seen: Option<Routes>,
    /// The target revision the last observation saw (names the sticky session cookie).
    revision: Option<String>,
    /// Metric values and webhook answers of the current tick.
    measured: Measured,
}

/// What the checks of one tick found, for the step history.
#[derive(Clone, Debug, Default)]
struct Measured {
    metrics: Vec<MetricRecord>,
    hooks: Vec<HookRecord>,
}

impl<'a> Executor<'a> {
    /// The executor of one canary; its edges are chosen here.
    pub fn new(
        client: &'a kube::Client,
        scope: Scope<'a>,
        hooks: Caller,
        mut metrics: MetricChecks<'a>,
    ) -> Result<Executor<'a>, Error> {
        let edges = choose(&scope)?;
        metrics.observer = edges.observer;
        Ok(Executor {
            client,
            scope,
            edges,
            hooks,
            metrics,
            routes_seen: None,
            revision: None,
            measured: Measured::default(),
        })
    }

    /// The canary's scope (spec, plan, namespace, owner, options).
    pub fn scope(&self) -> &Scope<'a> {
        &self.scope
    }

    /// The client.
    pub fn client(&self) -> &'a kube::Client {
        self.client
    }

    /// Initializes the canary (its lock held by `who`); `wait` bounds each wait. Returns the line
    /// that says what was done.
    pub async fn initialize(&self, wait: Duration, who: &str) -> Result<String, Error> {
        super::init::initialize_locked(self.client, &self.scope, &self.edges, wait, who).await
    }

    /// Reads from the canary's namespace of the cluster.
    fn cluster_read(&self) -> ClusterRead {
        ClusterRead::new(self.client, self.scope.namespace)
    }

    /// The live routes: read from the cluster the first time, then as this process wrote them
    /// when the router trusts its writes.
    pub async fn routes(&mut self) -> Result<Routes, Error> {
        if self.edges.router.remembers_writes()
            && let Some(r) = self.routes_seen
        {
            return Ok(r);
        }
        let read = self.read_routes().await?;
        self.routes_seen = Some(read);
        Ok(read)
    }

    /// Reads the live routes from the cluster.
    pub async fn read_routes(&self) -> Result<Routes, Error> {
        let wait = self.scope.plan.progress_deadline;
        self.edges.router.routes(self.client, wait).await
    }

    /// What the tick starts from.
    pub async fn observe(&mut self) -> Result<Observed, Error> {
        let routes = self.routes().await?;
        let o = self.edges.workload.observe(self.client).await?;
        self.revision = Some(o.revision.clone());
        Ok(Observed {
            target_hash: o.revision,
            tracked_configs: o.tracked_configs,
            canary: o.canary,
            primary: o.primary,
            routes,
        })
    }

    fn payload(&self, state: &RolloutState, phase: Phase) -> Payload {
        Payload {
            name: self.scope.plan.name.clone(),
            namespace: self.scope.namespace.to_string(),
            phase: phase_name(phase),
            checksum: hash_json(&(&state.tracked_configs, &state.last_applied_spec)),
            metadata: Default::default(),
        }
    }

    async fn gate(&mut self, hook: HookKind, state: &RolloutState, phase: Phase) -> GateOutcome {
        let payload = self.payload(state, phase);
        let hooks = &self.scope.plan.webhooks;
        let (gate, records) = self.hooks.gate(hooks, hook, &payload).await;
        self.measured.hooks.extend(records);
        gate
    }

    async fn run_check(&mut self, kind: CheckKind, state: &RolloutState) -> GateOutcome {
        let (hook, phase) = match kind {
            CheckKind::ConfirmRollout => (HookKind::ConfirmRollout, state.phase),
            CheckKind::Rollback => (HookKind::Rollback, state.phase),
            CheckKind::PreRollout => (HookKind::PreRollout, Phase::Progressing),
            CheckKind::ConfirmTrafficIncrease => {
                (HookKind::ConfirmTrafficIncrease, Phase::Progressing)
            }
            CheckKind::ConfirmPromotion => (HookKind::ConfirmPromotion, Phase::Progressing),
            CheckKind::Analysis => return self.analysis(state).await,
        };
        self.gate(hook, state, phase).await
    }

    /// The rollout webhooks, then the metrics.
    async fn analysis(&mut self, state: &RolloutState) -> GateOutcome {
        let rollout = self
            .gate(HookKind::Rollout, state, Phase::Progressing)
            .await;
        if let GateOutcome::Closed(why) = rollout {
            return GateOutcome::Closed(format!("Halt advancement: rollout webhook failed: {why}"));
        }
        let (outcome, records) = self.metrics.check().await;
        self.measured.metrics.extend(records);
        outcome
    }

    /// Flagger's provider check at the start: every metrics server must answer `vector(1)`.
    /// Returns a warning per server that does not (its checks will fail); nothing is blocked.
    pub async fn check_providers(&self) -> Vec<String> {
        self.metrics.offline_servers().await
    }

    /// `<namespace>/<name>`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.scope.namespace, self.scope.plan.name)
    }

    /// Applies one action.
    async fn apply(&mut self, action: &Action) -> Result<(), Error> {
        let client = self.client;
        match action {
            Action::SetRoutes(r) => {
                let revision = self.revision.as_deref();
                let written = self.edges.router.set_routes(client, *r, revision).await;
                // After a failed write the split is unknown: read it on the next tick.
                self.routes_seen = written.as_ref().ok().map(|_| *r);
                written
            }
            Action::ScaleTargetToZero => {
                self.edges.workload.scale_to_zero(client).await.map(|_| ())
            }
            Action::ScaleTargetFromZero => self.edges.workload.scale_from_zero(client).await,
            Action::PromotePrimary => self.promote().await,
            Action::PostRollout(phase) => {
                let state = RolloutState {
                    phase: *phase,
                    ..RolloutState::default()
                };
                let (gate, _) = self
                    .hooks
                    .gate(
                        &self.scope.plan.webhooks,
                        HookKind::PostRollout,
                        &self.payload(&state, *phase),
                    )
                    .await;
                if let GateOutcome::Closed(why) = gate {
                    tracing::warn!(
                        "{}: post-rollout webhook failed: {why}",
                        self.scope.plan.name
                    );
                }
                Ok(())
            }
        }
    }

    /// Promotion: what the workload says it writes, in order, with a new rollout id.
    async fn promote(&self) -> Result<(), Error> {
        let id = uuid::Uuid::new_v4().to_string();
        let read = self.cluster_read();
        let writes = self.edges.workload.promotion(&read, Some(&id)).await?;
        for d in &writes {
            desired::apply(self.client, self.scope.namespace, d).await?;
        }
        Ok(())
    }

    /// One tick: observe, decide, apply, save, tell.
    pub async fn tick(&mut self, store: &mut StateStore) -> Result<Decision, Error> {
        let mut state = store.state().cloned().unwrap_or_default();
        let mut obs = self.observe().await?;
        if !self.edges.workload.owns_deadline() {
            let deadline = self.scope.plan.progress_deadline;
            let secs = |t: &str| t.parse::<k8s_openapi::jiff::Timestamp>().ok();
            let since = state
                .last_transition()
                .and_then(secs)
                .map(|t| t.as_second());
            let now = k8s_openapi::jiff::Timestamp::now().as_second();
            crate::rollout::past_deadline(&mut obs, since, now, deadline);
        }
        let key = super::init::reconcile_key(&self.scope, &obs.target_hash);
        if store.state().is_some() && state.reconciled.as_deref() != Some(key.as_str()) {
            super::init::reconcile(self.client, &self.scope, &self.edges).await?;
            state.reconciled = Some(key);
        }
        self.measured = Measured::default();
        let plan = self.scope.plan;
        let decision = decide(plan, &state, &obs, async |kind| {
            self.run_check(kind, &state).await
        })
        .await;
        let measured = std::mem::take(&mut self.measured);
        self.commit(store, decision, obs.routes.canary, measured)
            .await
    }

    /// Carries out a manual decision (`promote`, `rollback`) taken at `observed_weight`.
    pub async fn commit_manual(
        &mut self,
        store: &mut StateStore,
        decision: Decision,
        observed_weight: u32,
    ) -> Result<Decision, Error> {
        self.commit(store, decision, observed_weight, Measured::default())
            .await
    }

    /// Carries out a decision: the actions in order, a step-history entry when something
    /// happened, the state, then the notes.
    async fn commit(
        &mut self,
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
        record_step(&mut decision, observed_weight, measured);
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

    /// Notes to the event webhooks; warnings and the notes of a phase change
    /// (`transition`) also become Events on the target. A routine step ("advance canary weight")
    /// is in the state's step history, the log and the check run, not in an Event: that keeps a
    /// steady tick to the requests that move traffic.
    async fn tell(&self, decision: &Decision, transition: bool) {
        let (api_version, kind) = self.edges.workload.kind();
        let involved = Involved {
            api_version,
            kind,
            namespace: self.scope.namespace,
            name: &self.scope.plan.names.target,
            uid: None,
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let payload = self.payload(&decision.state, decision.state.phase);
        for n in &decision.notes {
            let warning = n.kind == NoteKind::Warning;
            if warning || transition {
                let kind = if warning { "Warning" } else { "Normal" };
                events::record(self.client, &involved, kind, "Synced", &n.message).await;
            }
            let hooks = &self.scope.plan.webhooks;
            self.hooks
                .event(hooks, &payload, &n.message, warning, now_ms)
                .await;
        }
    }

    /// Cancellation (or a timeout): see [`crate::rollout::manual::cancel`]; the decision carried
    /// out, if there was one to take.
    pub async fn abort(
        &mut self,
        store: &mut StateStore,
        reason: &str,
    ) -> Result<Option<Decision>, Error> {
        let state = store.state().cloned().unwrap_or_default();
        let Some(d) = crate::rollout::manual::cancel(&state, reason) else {
            return Ok(None);
        };
        let weight = state.canary_weight;
        self.commit(store, d, weight, Measured::default())
            .await
            .map(Some)
    }

    /// The plan's interval.
    pub fn interval(&self) -> Duration {
        self.scope.plan.interval
    }
}

/// Adds a step-history entry when the tick did or found something (kept to the last 200).
fn record_step(decision: &mut Decision, observed_weight: u32, measured: Measured) {
    if decision.notes.is_empty() && measured.metrics.is_empty() && measured.hooks.is_empty() {
        return;
    }
    let weight = decision
        .actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::SetRoutes(r) => Some(r.canary),
            _ => None,
        })
        .unwrap_or(observed_weight);
    let notes = decision.notes.iter().map(|n| n.message.clone()).collect();
    let history = &mut decision.state.history;
    history.push(StepRecord {
        at: k8s_openapi::jiff::Timestamp::now().to_string(),
        phase: decision.state.phase,
        weight,
        failed_checks: decision.state.failed_checks,
        metrics: measured.metrics,
        hooks: measured.hooks,
        notes,
    });
    let excess = history.len().saturating_sub(200);
    history.drain(..excess);
}
