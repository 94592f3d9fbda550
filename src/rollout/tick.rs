//! One tick of the rollout (reference §2.5 steps 15-29, after initialization): a pure function
//! of the plan, the stored state, what was observed, and the checks answered so far. It asks for
//! each check when Flagger would consult it (`Step::Need`), so only those run, in Flagger's order.

use crate::rollout::decision::*;
use crate::rollout::plan::{Plan, Strategy};
use crate::rollout::state::{Health, Phase, RolloutState};
use crate::rollout::weights;
use crate::spec::model::{HookKind, Provider};

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
}

impl Tick<'_> {
    fn note(&mut self, kind: NoteKind, message: impl Into<String>) {
        self.notes.push(Note {
            kind,
            message: message.into(),
        });
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

fn namespace(plan: &Plan) -> &str {
    plan.namespace.as_deref().unwrap_or("default")
}

/// One tick. Call again with the asked-for check's outcome added until it returns a decision.
pub fn step(plan: &Plan, state: &RolloutState, obs: &Observed, checks: &Checks) -> Step {
    let mut t = Tick {
        plan,
        obs,
        state: state.clone(),
        actions: Vec::new(),
        notes: Vec::new(),
    };
    let phase = state.phase;
    let active = matches!(
        phase,
        Phase::Progressing
            | Phase::Waiting
            | Phase::WaitingPromotion
            | Phase::Promoting
            | Phase::Finalising
    );
    let changed = revision_changed(state, obs);

    // 15: idle unless a run is active or the target changed. A Failed canary whose target was put
    // back to the primary's spec remembers it, so the failed revision counts as new again later.
    if !active && !changed {
        if phase == Phase::Failed
            && state.last_applied_spec.as_deref() != Some(obs.target_hash.as_str())
        {
            t.state.last_applied_spec = Some(obs.target_hash.clone());
        }
        return t.done();
    }

    // 17: the primary must be ready (its rollout finished) before anything moves.
    if !plan.skip_analysis {
        match &obs.primary {
            Health::Stuck(why) if matches!(phase, Phase::Promoting | Phase::Finalising) => {
                return t.failed_promotion(why.clone());
            }
            Health::Stuck(why) => {
                return t.rollback(format!(
                    "Rolling back {}: the primary is not ready: {why}",
                    plan.name
                ));
            }
            Health::Waiting(why) => {
                t.note(NoteKind::Normal, format!("Waiting for the primary: {why}"));
                return t.done();
            }
            Health::Ready => {}
        }
    }

    // 19: a pending revision starts only behind the confirm-rollout gates, and the first
    // progressing tick only scales the target up.
    if !matches!(
        phase,
        Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting | Phase::Finalising
    ) {
        return match check(plan, checks, CheckKind::ConfirmRollout) {
            Err(kind) => Step::Need(kind),
            Ok(GateOutcome::Closed(why)) => {
                if phase != Phase::Waiting {
                    t.note(
                        NoteKind::Warning,
                        format!("Halt {} advancement waiting for approval: {why}", plan.name),
                    );
                    t.state.phase = Phase::Waiting;
                }
                t.done()
            }
            Ok(GateOutcome::Open) => {
                t.note(
                    NoteKind::Normal,
                    format!(
                        "New revision detected! Scaling up {}.{}",
                        plan.target.name,
                        namespace(plan)
                    ),
                );
                t.actions.push(Action::ScaleTargetFromZero);
                t.start_progressing();
                t.done()
            }
        };
    }

    // 20: a newer revision mid-analysis restarts it.
    if matches!(phase, Phase::Progressing | Phase::WaitingPromotion) && changed {
        t.note(
            NoteKind::Normal,
            format!(
                "New revision detected! Restarting analysis for {}.{}",
                plan.target.name,
                namespace(plan)
            ),
        );
        t.routes(100, 0, false);
        t.start_progressing();
        return t.done();
    }

    // 21: the canary must be ready.
    match &obs.canary {
        Health::Stuck(why) => {
            return t.rollback(format!(
                "Rolling back {}: progress deadline exceeded: {why}",
                plan.name
            ));
        }
        Health::Waiting(why) if !matches!(phase, Phase::Promoting | Phase::Finalising) => {
            t.note(NoteKind::Normal, format!("Waiting for the canary: {why}"));
            return t.done();
        }
        _ => {}
    }

    // 22: skipAnalysis promotes in one tick.
    if plan.skip_analysis {
        t.routes(100, 0, false);
        t.actions.push(Action::PromotePrimary);
        t.actions.push(Action::ScaleTargetToZero);
        t.state.phase = Phase::Succeeded;
        t.state.canary_weight = 0;
        t.state.last_promoted_spec = Some(obs.target_hash.clone());
        t.actions.push(Action::PostRollout(Phase::Succeeded));
        t.note(
            NoteKind::Normal,
            format!(
                "Promotion completed! Canary analysis was skipped for {}.{}",
                plan.target.name,
                namespace(plan)
            ),
        );
        return t.done();
    }

    // 23: a rollback hook answering 2xx rolls back now.
    if matches!(
        phase,
        Phase::Progressing | Phase::Waiting | Phase::WaitingPromotion
    ) {
        match check(plan, checks, CheckKind::Rollback) {
            Err(kind) => return Step::Need(kind),
            Ok(GateOutcome::Open) if has_hooks(plan, HookKind::Rollback) => {
                return t.rollback(format!(
                    "Rolling back {}.{}: a rollback webhook was invoked",
                    plan.name,
                    namespace(plan)
                ));
            }
            Ok(_) => {}
        }
    }

    // 24: promoting: move traffic back to the primary (the primary is ready: step 17).
    if phase == Phase::Promoting {
        let step_back = match plan.strategy {
            Strategy::Canary {
                step_weight_promotion,
                ..
            } => step_weight_promotion,
            _ => 0,
        };
        if plan.provider == Provider::Kubernetes {
            t.state.phase = Phase::Finalising;
        } else if step_back == 0 || obs.routes.canary == 0 {
            t.routes(100, 0, false);
            t.state.phase = Phase::Finalising;
            t.state.canary_weight = 0;
        } else {
            let primary = (obs.routes.primary + step_back).min(100);
            let canary = obs.routes.canary.saturating_sub(step_back);
            t.routes(primary, canary, false);
            t.note(
                NoteKind::Normal,
                format!(
                    "Advance {}.{} primary weight {primary}",
                    plan.name,
                    namespace(plan)
                ),
            );
            t.state.canary_weight = canary;
            if primary == 100 {
                t.state.phase = Phase::Finalising;
            }
        }
        return t.done();
    }

    // 25: finalising: the canary goes to zero; done.
    if phase == Phase::Finalising {
        t.actions.push(Action::ScaleTargetToZero);
        t.state.phase = Phase::Succeeded;
        t.state.canary_weight = 0;
        t.state.failed_checks = 0;
        t.state.iterations = 0;
        t.state.last_promoted_spec = t.state.last_applied_spec.clone();
        t.actions.push(Action::PostRollout(Phase::Succeeded));
        t.note(
            NoteKind::Normal,
            format!(
                "Promotion completed! Scaling down {}.{}",
                plan.target.name,
                namespace(plan)
            ),
        );
        return t.done();
    }

    // 26: the threshold is checked before this tick's analysis.
    if t.state.failed_checks >= plan.threshold {
        let n = t.state.failed_checks;
        return t.rollback(format!(
            "Rolling back {}.{} failed checks threshold reached {n}",
            plan.name,
            namespace(plan)
        ));
    }

    // 27: the first analysis tick runs pre-rollout and then moves traffic in the same tick; every
    // other tick runs the rollout hooks and metrics first.
    let mirror_first =
        matches!(plan.strategy, Strategy::Canary { mirror: true, .. }) && obs.routes.mirrored;
    if obs.routes.canary == 0 && t.state.iterations == 0 && !mirror_first {
        t.note(
            NoteKind::Normal,
            format!(
                "Starting canary analysis for {}.{}",
                plan.target.name,
                namespace(plan)
            ),
        );
        match check(plan, checks, CheckKind::PreRollout) {
            Err(kind) => return Step::Need(kind),
            Ok(GateOutcome::Closed(why)) => {
                t.state.failed_checks += 1;
                t.note(
                    NoteKind::Warning,
                    format!(
                        "Halt {} advancement: pre-rollout check failed: {why}",
                        plan.name
                    ),
                );
                return t.done();
            }
            Ok(GateOutcome::Open) => {}
        }
    } else {
        match check(plan, checks, CheckKind::Analysis) {
            Err(kind) => return Step::Need(kind),
            Ok(GateOutcome::Closed(why)) => {
                t.state.failed_checks += 1;
                t.note(NoteKind::Warning, why);
                return t.done();
            }
            Ok(GateOutcome::Open) => {}
        }
    }

    // 29: the strategy moves traffic or promotes.
    match &plan.strategy {
        Strategy::Canary {
            step_weight,
            step_weights,
            max_weight,
            mirror,
            ..
        } => {
            let cw = obs.routes.canary;
            let next = weights::next_step(cw, *step_weight, step_weights);
            if next > 0 && !obs.routes.mirrored && phase != Phase::WaitingPromotion {
                match check(plan, checks, CheckKind::ConfirmTrafficIncrease) {
                    Err(kind) => return Step::Need(kind),
                    Ok(GateOutcome::Closed(why)) => {
                        t.note(
                            NoteKind::Warning,
                            format!(
                                "Halt {} advancement waiting for traffic increase approval: {why}",
                                plan.name
                            ),
                        );
                        return t.done();
                    }
                    Ok(GateOutcome::Open) => {}
                }
            }
            if cw < *max_weight {
                if *mirror && cw == 0 && !obs.routes.mirrored {
                    t.routes(100, 0, true);
                    t.note(
                        NoteKind::Normal,
                        format!(
                            "Starting traffic mirroring to {}.{}",
                            plan.name,
                            namespace(plan)
                        ),
                    );
                    return t.done();
                }
                let canary = weights::advance(cw, *step_weight, step_weights);
                t.routes(100 - canary, canary, false);
                t.state.canary_weight = canary;
                t.note(
                    NoteKind::Normal,
                    format!(
                        "Advance {}.{} canary weight {canary}",
                        plan.name,
                        namespace(plan)
                    ),
                );
                t.done()
            } else {
                t.promote(checks)
            }
        }
        Strategy::AbTesting { iterations, .. } => {
            if t.state.iterations < *iterations {
                t.routes(0, 100, false);
                t.state.iterations += 1;
                let i = t.state.iterations;
                t.note(
                    NoteKind::Normal,
                    format!(
                        "Advance {}.{} canary iteration {i}/{iterations}",
                        plan.name,
                        namespace(plan)
                    ),
                );
                t.done()
            } else {
                t.promote(checks)
            }
        }
        Strategy::BlueGreen { iterations, mirror } => {
            let n = *iterations;
            if t.state.iterations < n {
                if *mirror {
                    t.routes(100, 0, true);
                }
                t.state.iterations += 1;
                let i = t.state.iterations;
                t.note(
                    NoteKind::Normal,
                    format!(
                        "Advance {}.{} canary iteration {i}/{n}",
                        plan.name,
                        namespace(plan)
                    ),
                );
                t.done()
            } else if t.state.iterations == n {
                match check(plan, checks, CheckKind::ConfirmPromotion) {
                    Err(kind) => Step::Need(kind),
                    Ok(GateOutcome::Closed(_)) => t.promote(checks),
                    Ok(GateOutcome::Open) => {
                        if plan.provider != Provider::Kubernetes {
                            t.routes(0, 100, false);
                            t.note(
                                NoteKind::Normal,
                                format!(
                                    "Routing all traffic to canary {}.{}",
                                    plan.name,
                                    namespace(plan)
                                ),
                            );
                        }
                        t.state.iterations = n + 1;
                        t.done()
                    }
                }
            } else {
                t.promote(checks)
            }
        }
    }
}
