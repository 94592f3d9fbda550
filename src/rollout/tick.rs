//! One tick of the rollout (reference §2.5 steps 15-29, after initialization): a pure function
//! of the plan, the stored state, what was observed, and the checks answered so far. It asks for
//! each check when Flagger would consult it (`Step::Need`), so only those run, in Flagger's order.

use crate::rollout::decision::*;
use crate::rollout::plan::{Plan, Strategy};
use crate::rollout::state::{Health, Phase, RolloutState};
use crate::rollout::weights;
use crate::spec::model::{AlertSeverity, HookKind, Provider};

/// Whether the plan has webhooks of a kind.
fn has_hooks(plan: &Plan, kind: HookKind) -> bool {
    plan.webhooks.iter().any(|w| w.kind == kind)
}

/// The outcome of a check, or the check to run first. Checks without hooks are open.
fn check(plan: &Plan, checks: &Checks, kind: CheckKind) -> Result<GateOutcome, CheckKind> {
    let hook = match kind {
        CheckKind::ConfirmRollout => Some(HookKind::ConfirmRollout),
        CheckKind::Rollback => Some(HookKind::Rollback),
        CheckKind::PreRollout => Some(HookKind::PreRollout),
        CheckKind::ConfirmTrafficIncrease => Some(HookKind::ConfirmTrafficIncrease),
        CheckKind::ConfirmPromotion => Some(HookKind::ConfirmPromotion),
        CheckKind::Analysis => None,
    };
    let needed = match hook {
        Some(h) => has_hooks(plan, h),
        None => has_hooks(plan, HookKind::Rollout) || !plan.metrics.is_empty(),
    };
    if !needed {
        return Ok(GateOutcome::Open);
    }
    checks.get(&kind).cloned().ok_or(kind)
}

/// Has the target (or its configs) changed since the state last saw it (§2.4)? Putting the
/// target back to what the primary runs is not a change.
pub fn revision_changed(state: &RolloutState, obs: &Observed) -> bool {
    let Some(applied) = &state.last_applied_spec else {
        return true;
    };
    if state.last_promoted_spec.as_deref() == Some(obs.target_hash.as_str())
        && obs.target_hash != *applied
    {
        return false;
    }
    obs.target_hash != *applied || obs.tracked_configs != state.tracked_configs
}

struct Tick<'a> {
    plan: &'a Plan,
    obs: &'a Observed,
    state: RolloutState,
    actions: Vec<Action>,
    notes: Vec<Note>,
    alerts: Vec<Alert>,
}

impl Tick<'_> {
    fn note(&mut self, kind: NoteKind, message: impl Into<String>) {
        self.notes.push(Note {
            kind,
            message: message.into(),
        });
    }

    /// An alert (`details`: with the canary's set-up, as Flagger's first two info alerts).
    fn alert(&mut self, severity: AlertSeverity, message: impl Into<String>, details: bool) {
        self.alerts.push(Alert {
            severity,
            message: message.into(),
            details,
        });
    }

    /// A gate's waiting alert, unless its webhooks all say `muteAlert: true` (Flagger checks
    /// the webhook that held the gate; with one webhook per gate, the same).
    fn gate_alert(&mut self, hook: HookKind, message: &str) {
        let mut hooks = self
            .plan
            .webhooks
            .iter()
            .filter(|h| h.kind == hook)
            .peekable();
        let muted = hooks.peek().is_some() && hooks.all(|h| h.mute_alert);
        if !muted {
            self.alert(AlertSeverity::Warn, message, false);
        }
    }

    fn routes(&mut self, primary: u32, canary: u32, mirrored: bool) {
        self.actions.push(Action::SetRoutes(Routes {
            primary,
            canary,
            mirrored,
        }));
    }

    fn done(self) -> Step {
        Step::Decided(Box::new(Decision {
            state: self.state,
            actions: self.actions,
            notes: self.notes,
            alerts: self.alerts,
        }))
    }

    /// §2.9 `rollback()`: everything to the primary, canary to zero, Failed, post-rollout.
    fn rollback(mut self, why: String) -> Step {
        self.note(NoteKind::Warning, why);
        self.routes(100, 0, false);
        self.note(
            NoteKind::Warning,
            format!(
                "Canary failed! Scaling down {}.{}",
                self.plan.target.name,
                namespace(self.plan)
            ),
        );
        self.actions.push(Action::ScaleTargetToZero);
        self.state.phase = Phase::Failed;
        self.state.canary_weight = 0;
        self.state.failed_checks = 0;
        self.state.iterations = 0;
        self.state.last_applied_spec = Some(self.obs.target_hash.clone());
        self.state.tracked_configs = self.obs.tracked_configs.clone();
        self.actions.push(Action::PostRollout(Phase::Failed));
        self.done()
    }

    /// §2.10: the primary broke during promotion: keep the canary and send it all the traffic.
    fn failed_promotion(mut self, why: String) -> Step {
        self.note(NoteKind::Warning, format!("Promotion failed, the primary is not ready: {why}; routing all traffic to the canary"));
        let msg = format!("Promotion failed, primary not ready: {why}");
        self.alert(AlertSeverity::Error, msg, false);
        self.routes(0, 100, false);
        self.state.phase = Phase::Failed;
        self.state.canary_weight = 100;
        self.actions.push(Action::PostRollout(Phase::Failed));
        self.done()
    }

    fn start_progressing(&mut self) {
        self.state.phase = Phase::Progressing;
        self.state.canary_weight = 0;
        self.state.failed_checks = 0;
        self.state.iterations = 0;
        self.state.last_applied_spec = Some(self.obs.target_hash.clone());
        self.state.tracked_configs = self.obs.tracked_configs.clone();
    }

    fn promote(mut self, checks: &Checks) -> Step {
        match check(self.plan, checks, CheckKind::ConfirmPromotion) {
            Err(kind) => Step::Need(kind),
            Ok(GateOutcome::Closed(why)) => {
                if self.state.phase != Phase::WaitingPromotion {
                    self.note(
                        NoteKind::Warning,
                        format!(
                            "Halt {} advancement waiting for promotion approval: {why}",
                            self.plan.name
                        ),
                    );
                    let msg = "Canary promotion is waiting for approval.";
                    self.gate_alert(HookKind::ConfirmPromotion, msg);
                    self.state.phase = Phase::WaitingPromotion;
                }
                self.done()
            }
            Ok(GateOutcome::Open) => {
                self.note(
                    NoteKind::Normal,
                    format!(
                        "Copying {}.{} template spec to {}",
                        self.plan.target.name,
                        namespace(self.plan),
                        self.plan.names.primary_workload
                    ),
                );
                self.actions.push(Action::PromotePrimary);
                self.state.phase = Phase::Promoting;
                self.done()
            }
        }
    }
}

/// Flagger's alert when a new revision starts its analysis.
const NEW_REVISION: &str = "New revision detected, progressing canary analysis.";

fn namespace(plan: &Plan) -> &str {
    plan.namespace.as_deref().unwrap_or("default")
}

/// Where a tick stands, computed once from the stored phase and whether the target changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing is running and the target is unchanged (15).
    Idle,
    /// A new revision waits behind the confirm-rollout gates (19).
    NewRevision,
    /// A newer revision arrived mid-analysis (20).
    Restart,
    /// A run is under way.
    Running(Run),
}

/// The stages of a run under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// Analysing and moving traffic (26-29).
    Analysing,
    /// Moving traffic back to the promoted primary (24).
    Promoting,
    /// Scaling the canary down (25).
    Finalising,
}

impl Stage {
    fn of(phase: Phase, changed: bool) -> Stage {
        match phase {
            Phase::Promoting => Stage::Running(Run::Promoting),
            Phase::Finalising => Stage::Running(Run::Finalising),
            Phase::Progressing | Phase::WaitingPromotion if changed => Stage::Restart,
            Phase::Progressing | Phase::WaitingPromotion => Stage::Running(Run::Analysing),
            Phase::Waiting => Stage::NewRevision,
            Phase::Initializing | Phase::Initialized | Phase::Succeeded | Phase::Failed => {
                if changed {
                    Stage::NewRevision
                } else {
                    Stage::Idle
                }
            }
        }
    }
}

/// One tick. Call again with the asked-for check's outcome added until it returns a decision
/// (or let [`decide`] do it).
pub fn step(plan: &Plan, state: &RolloutState, obs: &Observed, checks: &Checks) -> Step {
    let t = Tick {
        plan,
        obs,
        state: state.clone(),
        actions: Vec::new(),
        notes: Vec::new(),
        alerts: Vec::new(),
    };
    let stage = Stage::of(state.phase, revision_changed(state, obs));
    if stage == Stage::Idle {
        return t.idle();
    }
    let t = match t.primary_ready() {
        Ok(t) => t,
        Err(step) => return step,
    };
    match stage {
        Stage::Idle => t.idle(),
        Stage::NewRevision => t.confirm_rollout(checks),
        Stage::Restart => t.restart(),
        Stage::Running(run) => t.running(run, checks),
    }
}

/// Runs a tick to its decision, answering each check it asks for with `answer` (the executor
/// runs webhooks and queries; tests answer from a table). A check is asked at most once per
/// tick: asking again would be a bug in [`step`], and panics rather than loops.
pub async fn decide(
    plan: &Plan,
    state: &RolloutState,
    obs: &Observed,
    mut answer: impl AsyncFnMut(CheckKind) -> GateOutcome,
) -> Decision {
    let mut checks = Checks::new();
    loop {
        match step(plan, state, obs, &checks) {
            Step::Need(kind) => {
                assert!(
                    !checks.contains_key(&kind),
                    "rollout::step asked for {kind:?} twice in one tick"
                );
                let outcome = answer(kind).await;
                checks.insert(kind, outcome);
            }
            Step::Decided(d) => return *d,
        }
    }
}

/// A gate passed (the tick goes on) or the tick's answer.
type Gate<'a> = Result<Tick<'a>, Step>;

impl<'a> Tick<'a> {
    /// 15: idle. A Failed canary whose target was put back to the primary's spec remembers it,
    /// so the failed revision counts as new again later.
    fn idle(mut self) -> Step {
        let hash = &self.obs.target_hash;
        if self.state.phase == Phase::Failed
            && self.state.last_applied_spec.as_deref() != Some(hash.as_str())
        {
            self.state.last_applied_spec = Some(hash.clone());
        }
        self.done()
    }

    /// 17: the primary must be ready (its rollout finished) before anything moves.
    fn primary_ready(mut self) -> Gate<'a> {
        if self.plan.skip_analysis {
            return Ok(self);
        }
        let promoting = matches!(self.state.phase, Phase::Promoting | Phase::Finalising);
        match &self.obs.primary {
            Health::Stuck(why) if promoting => Err(self.failed_promotion(why.clone())),
            Health::Stuck(why) => {
                let msg = format!("Progress deadline exceeded: the primary is not ready: {why}");
                self.alert(AlertSeverity::Error, msg, false);
                let why = format!(
                    "Rolling back {}: the primary is not ready: {why}",
                    self.plan.name
                );
                Err(self.rollback(why))
            }
            Health::Waiting(why) => {
                self.note(NoteKind::Normal, format!("Waiting for the primary: {why}"));
                Err(self.done())
            }
            Health::Ready => Ok(self),
        }
    }

    /// 19: a pending revision starts only behind the confirm-rollout gates, and the first
    /// progressing tick only scales the target up.
    fn confirm_rollout(mut self, checks: &Checks) -> Step {
        let plan = self.plan;
        match check(plan, checks, CheckKind::ConfirmRollout) {
            Err(kind) => Step::Need(kind),
            Ok(GateOutcome::Closed(why)) => {
                if self.state.phase != Phase::Waiting {
                    let msg = format!("Halt {} advancement waiting for approval: {why}", plan.name);
                    self.note(NoteKind::Warning, msg);
                    self.gate_alert(HookKind::ConfirmRollout, "Canary is waiting for approval.");
                    self.state.phase = Phase::Waiting;
                }
                self.done()
            }
            Ok(GateOutcome::Open) => {
                let (target, ns) = (&plan.target.name, namespace(plan));
                let msg = format!("New revision detected! Scaling up {target}.{ns}");
                self.note(NoteKind::Normal, msg);
                self.alert(AlertSeverity::Info, NEW_REVISION, true);
                self.actions.push(Action::ScaleTargetFromZero);
                self.start_progressing();
                self.done()
            }
        }
    }

    /// 20: a newer revision mid-analysis restarts it.
    fn restart(mut self) -> Step {
        let (target, ns) = (&self.plan.target.name, namespace(self.plan));
        let msg = format!("New revision detected! Restarting analysis for {target}.{ns}");
        self.note(NoteKind::Normal, msg);
        self.alert(AlertSeverity::Info, NEW_REVISION, true);
        self.routes(100, 0, false);
        self.start_progressing();
        self.done()
    }

    /// A run under way: the canary's readiness, skipped analysis and the rollback hooks first.
    fn running(self, run: Run, checks: &Checks) -> Step {
        let t = match self.canary_ready(run) {
            Ok(t) => t,
            Err(step) => return step,
        };
        if t.plan.skip_analysis {
            return t.skip_analysis();
        }
        match run {
            Run::Promoting => t.promoting(),
            Run::Finalising => t.finalising(),
            Run::Analysing => match t.rollback_hook(checks) {
                Ok(t) => t.analyse(checks),
                Err(step) => step,
            },
        }
    }

    /// 21: the canary must be ready (while promoting, only not stuck).
    fn canary_ready(mut self, run: Run) -> Gate<'a> {
        match &self.obs.canary {
            Health::Stuck(why) => {
                let msg = format!("Progress deadline exceeded {why}");
                self.alert(AlertSeverity::Error, msg, false);
                let why = format!(
                    "Rolling back {}: progress deadline exceeded: {why}",
                    self.plan.name
                );
                Err(self.rollback(why))
            }
            Health::Waiting(why) if run == Run::Analysing => {
                self.note(NoteKind::Normal, format!("Waiting for the canary: {why}"));
                Err(self.done())
            }
            Health::Waiting(_) | Health::Ready => Ok(self),
        }
    }

    /// 22: skipAnalysis promotes in one tick.
    fn skip_analysis(mut self) -> Step {
        self.routes(100, 0, false);
        self.actions.push(Action::PromotePrimary);
        self.actions.push(Action::ScaleTargetToZero);
        self.state.phase = Phase::Succeeded;
        self.state.canary_weight = 0;
        self.state.last_promoted_spec = Some(self.obs.target_hash.clone());
        self.actions.push(Action::PostRollout(Phase::Succeeded));
        let (target, ns) = (&self.plan.target.name, namespace(self.plan));
        let msg = format!("Promotion completed! Canary analysis was skipped for {target}.{ns}");
        self.note(NoteKind::Normal, msg);
        let msg = "Canary analysis was skipped, promotion finished.";
        self.alert(AlertSeverity::Info, msg, false);
        self.done()
    }

    /// 23: a rollback hook answering 2xx rolls back now.
    fn rollback_hook(mut self, checks: &Checks) -> Gate<'a> {
        let plan = self.plan;
        match check(plan, checks, CheckKind::Rollback) {
            Err(kind) => Err(Step::Need(kind)),
            Ok(GateOutcome::Open) if has_hooks(plan, HookKind::Rollback) => {
                self.alert(
                    AlertSeverity::Warn,
                    "Rolling back manual webhook invoked",
                    false,
                );
                let (name, ns) = (&plan.name, namespace(plan));
                let why = format!("Rolling back {name}.{ns}: a rollback webhook was invoked");
                Err(self.rollback(why))
            }
            Ok(_) => Ok(self),
        }
    }

    /// 24: promoting: move traffic back to the primary (the primary is ready: step 17).
    fn promoting(mut self) -> Step {
        let (plan, obs) = (self.plan, self.obs);
        let step_back = match plan.strategy {
            Strategy::Canary {
                step_weight_promotion,
                ..
            } => step_weight_promotion,
            Strategy::AbTesting { .. } | Strategy::BlueGreen { .. } => 0,
        };
        if plan.provider == Provider::Kubernetes {
            self.state.phase = Phase::Finalising;
        } else if step_back == 0 || obs.routes.canary == 0 {
            self.routes(100, 0, false);
            self.state.phase = Phase::Finalising;
            self.state.canary_weight = 0;
        } else {
            let primary = (obs.routes.primary + step_back).min(100);
            let canary = obs.routes.canary.saturating_sub(step_back);
            self.routes(primary, canary, false);
            let (name, ns) = (&plan.name, namespace(plan));
            let msg = format!("Advance {name}.{ns} primary weight {primary}");
            self.note(NoteKind::Normal, msg);
            self.state.canary_weight = canary;
            if primary == 100 {
                self.state.phase = Phase::Finalising;
            }
        }
        self.done()
    }

    /// 25: finalising: the canary goes to zero; done.
    fn finalising(mut self) -> Step {
        self.actions.push(Action::ScaleTargetToZero);
        self.state.phase = Phase::Succeeded;
        self.state.canary_weight = 0;
        self.state.failed_checks = 0;
        self.state.iterations = 0;
        self.state.last_promoted_spec = self.state.last_applied_spec.clone();
        self.actions.push(Action::PostRollout(Phase::Succeeded));
        let (target, ns) = (&self.plan.target.name, namespace(self.plan));
        let msg = format!("Promotion completed! Scaling down {target}.{ns}");
        self.note(NoteKind::Normal, msg);
        let msg = "Canary analysis completed successfully, promotion finished.";
        self.alert(AlertSeverity::Info, msg, false);
        self.done()
    }

    /// 26-29: the threshold, this tick's checks, then the strategy moves traffic or promotes.
    fn analyse(self, checks: &Checks) -> Step {
        let plan = self.plan;
        // 26: the threshold is checked before this tick's analysis.
        if self.state.failed_checks >= plan.threshold {
            let (n, name, ns) = (self.state.failed_checks, &plan.name, namespace(plan));
            let why = format!("Rolling back {name}.{ns} failed checks threshold reached {n}");
            let mut t = self;
            let msg = format!("Failed checks threshold reached {n}");
            t.alert(AlertSeverity::Error, msg, false);
            return t.rollback(why);
        }
        let t = match self.checks_pass(checks) {
            Ok(t) => t,
            Err(step) => return step,
        };
        match &plan.strategy {
            Strategy::Canary { .. } => t.advance_canary(checks),
            Strategy::AbTesting { iterations, .. } => t.advance_ab(*iterations, checks),
            Strategy::BlueGreen { iterations, mirror } => {
                t.advance_blue_green(*iterations, *mirror, checks)
            }
        }
    }

    /// 27: the first analysis tick runs pre-rollout and then moves traffic in the same tick;
    /// every other tick runs the rollout hooks and metrics first. A closed gate counts a failure.
    fn checks_pass(mut self, checks: &Checks) -> Gate<'a> {
        let (plan, obs) = (self.plan, self.obs);
        let mirror_first =
            matches!(plan.strategy, Strategy::Canary { mirror: true, .. }) && obs.routes.mirrored;
        let first = obs.routes.canary == 0 && self.state.iterations == 0 && !mirror_first;
        if first {
            let (target, ns) = (&plan.target.name, namespace(plan));
            let msg = format!("Starting canary analysis for {target}.{ns}");
            self.note(NoteKind::Normal, msg);
        }
        let kind = if first {
            CheckKind::PreRollout
        } else {
            CheckKind::Analysis
        };
        match check(plan, checks, kind) {
            Err(kind) => Err(Step::Need(kind)),
            Ok(GateOutcome::Closed(why)) => {
                self.state.failed_checks += 1;
                let why = if first {
                    format!(
                        "Halt {} advancement: pre-rollout check failed: {why}",
                        plan.name
                    )
                } else {
                    why
                };
                self.note(NoteKind::Warning, why);
                Err(self.done())
            }
            Ok(GateOutcome::Open) => Ok(self),
        }
    }

    /// 29, canary: behind confirm-traffic-increase, mirror first when asked, then the next weight;
    /// at the maximum weight, promote.
    fn advance_canary(mut self, checks: &Checks) -> Step {
        let (plan, obs) = (self.plan, self.obs);
        let Strategy::Canary {
            step_weight,
            step_weights,
            max_weight,
            mirror,
            ..
        } = &plan.strategy
        else {
            return self.done();
        };
        let cw = obs.routes.canary;
        let next = weights::next_step(cw, *step_weight, step_weights);
        if next > 0 && !obs.routes.mirrored && self.state.phase != Phase::WaitingPromotion {
            match check(plan, checks, CheckKind::ConfirmTrafficIncrease) {
                Err(kind) => return Step::Need(kind),
                Ok(GateOutcome::Closed(why)) => {
                    let msg = format!(
                        "Halt {} advancement waiting for traffic increase approval: {why}",
                        plan.name
                    );
                    self.note(NoteKind::Warning, msg);
                    let msg = "Canary traffic increase is waiting for approval.";
                    self.gate_alert(HookKind::ConfirmTrafficIncrease, msg);
                    return self.done();
                }
                Ok(GateOutcome::Open) => {}
            }
        }
        if cw >= *max_weight {
            return self.promote(checks);
        }
        let (name, ns) = (&plan.name, namespace(plan));
        if *mirror && cw == 0 && !obs.routes.mirrored {
            self.routes(100, 0, true);
            self.note(
                NoteKind::Normal,
                format!("Starting traffic mirroring to {name}.{ns}"),
            );
            return self.done();
        }
        let canary = weights::advance(cw, *step_weight, step_weights);
        self.routes(100 - canary, canary, false);
        self.state.canary_weight = canary;
        let msg = format!("Advance {name}.{ns} canary weight {canary}");
        self.note(NoteKind::Normal, msg);
        self.done()
    }

    /// 29, A/B: all matching traffic to the canary for `iterations` ticks, then promote.
    fn advance_ab(mut self, iterations: u32, checks: &Checks) -> Step {
        if self.state.iterations >= iterations {
            return self.promote(checks);
        }
        self.routes(0, 100, false);
        self.state.iterations += 1;
        let (i, name, ns) = (self.state.iterations, &self.plan.name, namespace(self.plan));
        let msg = format!("Advance {name}.{ns} canary iteration {i}/{iterations}");
        self.note(NoteKind::Normal, msg);
        self.done()
    }

    /// 29, blue/green: `n` iterations (mirrored when asked), then, behind confirm-promotion, all
    /// traffic to the canary for one more tick, then promote.
    fn advance_blue_green(mut self, n: u32, mirror: bool, checks: &Checks) -> Step {
        let plan = self.plan;
        let (name, ns) = (&plan.name, namespace(plan));
        if self.state.iterations < n {
            if mirror {
                self.routes(100, 0, true);
            }
            self.state.iterations += 1;
            let i = self.state.iterations;
            let msg = format!("Advance {name}.{ns} canary iteration {i}/{n}");
            self.note(NoteKind::Normal, msg);
            return self.done();
        }
        if self.state.iterations > n {
            return self.promote(checks);
        }
        match check(plan, checks, CheckKind::ConfirmPromotion) {
            Err(kind) => Step::Need(kind),
            Ok(GateOutcome::Closed(_)) => self.promote(checks),
            Ok(GateOutcome::Open) => {
                if plan.provider != Provider::Kubernetes {
                    self.routes(0, 100, false);
                    let msg = format!("Routing all traffic to canary {name}.{ns}");
                    self.note(NoteKind::Normal, msg);
                }
                self.state.iterations = n + 1;
                self.done()
            }
        }
    }
}
