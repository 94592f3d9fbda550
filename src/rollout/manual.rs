//! Decisions people take by hand (`rollback`, `promote`) or by stopping the job (cancellation),
//! as pure functions like the tick: they return the next state and the ordered actions, or
//! `None` when there is nothing to do in the current phase.

use crate::rollout::decision::{Action, Alert, Decision, Note, NoteKind, Observed, Routes};
use crate::rollout::plan::Plan;
use crate::rollout::state::{Phase, RolloutState};
use crate::spec::model::AlertSeverity;

const TO_PRIMARY: Routes = Routes {
    primary: 100,
    canary: 0,
    mirrored: false,
};

/// `state` moved to Failed with the canary emptied and the analysis counters reset.
fn failed(state: &RolloutState, message: &str) -> RolloutState {
    let mut next = state.clone();
    next.phase = Phase::Failed;
    next.canary_weight = 0;
    next.failed_checks = 0;
    next.iterations = 0;
    next.message = Some(message.to_string());
    next
}

fn note(message: String) -> Vec<Note> {
    vec![Note {
        kind: NoteKind::Normal,
        message,
    }]
}

fn alert(severity: AlertSeverity, message: &str) -> Vec<Alert> {
    vec![Alert {
        severity,
        message: message.to_string(),
        details: false,
    }]
}

/// Flagger's alert once a target is taken over, with the canary's set-up.
pub fn initialized_alert(plan: &Plan) -> Alert {
    Alert {
        severity: AlertSeverity::Info,
        message: format!(
            "New {:?} detected, initialization completed.",
            plan.target.kind
        ),
        details: true,
    }
}

/// `rollback`: all traffic to the primary, the canary to zero, phase Failed with this revision
/// remembered (so it is not retried until it changes), post-rollout hooks.
pub fn rollback(plan: &Plan, state: &RolloutState, obs: &Observed) -> Option<Decision> {
    if !matches!(
        state.phase,
        Phase::Progressing | Phase::Waiting | Phase::WaitingPromotion | Phase::Promoting
    ) {
        return None;
    }
    let mut next = failed(state, "rolled back on request");
    next.last_applied_spec = Some(obs.target_hash.clone());
    next.tracked_configs = obs.tracked_configs.clone();
    Some(Decision {
        state: next,
        actions: vec![
            Action::SetRoutes(TO_PRIMARY),
            Action::ScaleTargetToZero,
            Action::PostRollout(Phase::Failed),
        ],
        notes: note(format!(
            "rolled back on request: all traffic is on the primary, {} scaled to 0",
            plan.target.name
        )),
        alerts: alert(AlertSeverity::Warn, "Rolling back: rollback requested"),
    })
}

/// `promote`: skip the rest of the analysis, as an open confirm-promotion gate would. The primary
/// gets the target as it is now (`obs`), so that is the revision recorded.
pub fn promote(plan: &Plan, state: &RolloutState, obs: &Observed) -> Option<Decision> {
    if !matches!(
        state.phase,
        Phase::Progressing | Phase::Waiting | Phase::WaitingPromotion
    ) {
        return None;
    }
    let mut next = state.clone();
    next.phase = Phase::Promoting;
    next.last_applied_spec = Some(obs.target_hash.clone());
    next.tracked_configs = obs.tracked_configs.clone();
    Some(Decision {
        state: next,
        actions: vec![Action::PromotePrimary],
        notes: note(format!(
            "promoting on request: copying {} to {}",
            plan.target.name, plan.names.primary_workload
        )),
        alerts: Vec::new(),
    })
}

/// Cancellation or a timeout: all traffic to the primary and phase Failed with `reason`; the
/// revision is forgotten so the next run analyses it again from the start.
pub fn cancel(state: &RolloutState, reason: &str) -> Option<Decision> {
    if !matches!(
        state.phase,
        Phase::Progressing
            | Phase::Waiting
            | Phase::WaitingPromotion
            | Phase::Promoting
            | Phase::Finalising
    ) {
        return None;
    }
    let mut next = failed(state, reason);
    next.last_applied_spec = None;
    Some(Decision {
        state: next,
        actions: vec![Action::SetRoutes(TO_PRIMARY)],
        notes: note(format!("{reason}: all traffic is on the primary")),
        alerts: alert(
            AlertSeverity::Warn,
            &format!("Rolling back: {reason}, all traffic is on the primary"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Health;

    fn state(phase: Phase) -> RolloutState {
        RolloutState {
            phase,
            last_applied_spec: Some("v1".into()),
            ..RolloutState::default()
        }
    }

    #[test]
    fn only_active_phases_are_touched() {
        assert!(cancel(&state(Phase::Succeeded), "cancelled").is_none());
        let c = cancel(&state(Phase::Progressing), "cancelled").unwrap();
        assert_eq!(
            (c.state.phase, c.state.last_applied_spec.clone()),
            (Phase::Failed, None)
        );
        assert_eq!(c.actions, vec![Action::SetRoutes(TO_PRIMARY)]);
        let obs = Observed {
            target_hash: "v2".into(),
            tracked_configs: Default::default(),
            canary: Health::Ready,
            primary: Health::Ready,
            routes: TO_PRIMARY,
        };
        let text = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: app}\nspec:\n  provider: kubernetes\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 1, iterations: 1}\n";
        let loaded = crate::spec::load(&[crate::spec::Source {
            name: "a.yaml".into(),
            text: text.into(),
        }]);
        let plan = Plan::new(&loaded.canaries[0]).0;
        assert!(rollback(&plan, &state(Phase::Initialized), &obs).is_none());
        let r = rollback(&plan, &state(Phase::WaitingPromotion), &obs).unwrap();
        assert_eq!(r.state.last_applied_spec.as_deref(), Some("v2"));
        assert_eq!(r.actions.last(), Some(&Action::PostRollout(Phase::Failed)));
        assert!(promote(&plan, &state(Phase::Failed), &obs).is_none());
        let p = promote(&plan, &state(Phase::Waiting), &obs).unwrap();
        assert_eq!(p.state.phase, Phase::Promoting);
        assert_eq!(
            p.state.last_applied_spec.as_deref(),
            Some("v2"),
            "the revision promoted"
        );
    }
}
