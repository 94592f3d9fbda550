//! The vocabulary of one tick: what the edges observed, the checks they ran, and what the state
//! machine decided (next state, ordered actions, notes). Pure data.

use crate::rollout::{Health, RolloutState};
use std::collections::BTreeMap;

/// The live traffic split, as the router reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    /// Percent to the primary.
    pub primary: u32,
    /// Percent to the canary.
    pub canary: u32,
    /// Whether traffic is mirrored to the canary.
    pub mirrored: bool,
}

impl Routes {
    /// `percent` (at most 100) to the primary, the rest to the canary, nothing mirrored: how
    /// routers that weigh the primary's destination read their split.
    pub fn primary_takes(percent: u32) -> Routes {
        let primary = percent.min(100);
        Routes {
            primary,
            canary: 100 - primary,
            mirrored: false,
        }
    }

    /// `percent` (at most 100) to the canary, the rest to the primary, nothing mirrored.
    pub fn canary_takes(percent: u32) -> Routes {
        let canary = percent.min(100);
        Routes {
            primary: 100 - canary,
            canary,
            mirrored: false,
        }
    }
}

/// What the edges saw at the start of a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Hash of the target's pod template (a Service target: of its spec).
    pub target_hash: String,
    /// Checksums of the configs the target references.
    pub tracked_configs: BTreeMap<String, String>,
    /// Readiness of the target (the canary pods).
    pub canary: Health,
    /// Readiness of the primary.
    pub primary: Health,
    /// The live routes.
    pub routes: Routes,
}

/// A check the state machine may consult during a tick, in the order Flagger consults them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckKind {
    /// `confirm-rollout` gates, before a new revision starts.
    ConfirmRollout,
    /// `rollback` hooks: open means "roll back now".
    Rollback,
    /// `pre-rollout` hooks, on the first analysis tick.
    PreRollout,
    /// `rollout` hooks then metrics, on every other analysis tick.
    Analysis,
    /// `confirm-traffic-increase` gates, before a weight change.
    ConfirmTrafficIncrease,
    /// `confirm-promotion` gates, before promotion.
    ConfirmPromotion,
}

/// What a gate (or a group of hooks of one type) answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateOutcome {
    /// Every hook answered 200-202 (or there are none).
    Open,
    /// A hook answered something else; the reason names it.
    Closed(String),
}

/// What one metric query returned.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricOutcome {
    /// A value.
    Value(f64),
    /// No series or NaN ("no values found"): a failed check, as in Flagger.
    NoData,
    /// The query failed.
    Failed(String),
}

/// The checks answered so far this tick.
pub type Checks = BTreeMap<CheckKind, GateOutcome>;

/// A side effect, applied by the executor in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Scale the target back up (§3.4).
    ScaleTargetFromZero,
    /// Scale the target to zero.
    ScaleTargetToZero,
    /// Set the traffic split.
    SetRoutes(Routes),
    /// Copy the target's spec (and configs) into the primary.
    PromotePrimary,
    /// Run the `post-rollout` hooks with this phase.
    PostRollout(crate::rollout::Phase),
}

/// Normal or Warning, as Kubernetes Events are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// Progress.
    Normal,
    /// Something went wrong or is held.
    Warning,
}

/// One thing worth telling people (an Event, a log line, an event webhook).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Normal or Warning.
    pub kind: NoteKind,
    /// What happened.
    pub message: String,
}

/// A message for the canary's alert providers, at one of the moments Flagger alerts on, with
/// its severity (reference §2.13). An `info` alert gets every one, `warn` warnings and errors,
/// `error` errors only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// How bad it is.
    pub severity: crate::spec::model::AlertSeverity,
    /// What happened, in Flagger's words.
    pub message: String,
    /// Whether the message carries the canary's set-up (target, threshold, deadline, routing).
    pub details: bool,
}

/// What a tick decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The state to save.
    pub state: RolloutState,
    /// The side effects, in order.
    pub actions: Vec<Action>,
    /// What to tell.
    pub notes: Vec<Note>,
    /// What to tell the alert providers.
    pub alerts: Vec<Alert>,
}

/// The answer of [`crate::rollout::step`]: run one more check, or the decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Run this check, add its outcome to the checks, call `step` again.
    Need(CheckKind),
    /// The tick's decision.
    Decided(Box<Decision>),
}

/// A target whose status has no deadline of its own (a DaemonSet) and has waited longer than
/// `deadline` since the canary last moved (`since`, epoch seconds) is stuck, as Flagger judges
/// it against the canary's last transition. `now` is the caller's clock.
pub fn past_deadline(
    obs: &mut Observed,
    since: Option<i64>,
    now: i64,
    deadline: std::time::Duration,
) {
    let Some(since) = since else { return };
    if since + deadline.as_secs() as i64 > now {
        return;
    }
    for h in [&mut obs.canary, &mut obs.primary] {
        if let Health::Waiting(why) = h {
            *h = Health::Stuck(format!(
                "{why} for longer than {}s (progressDeadlineSeconds)",
                deadline.as_secs()
            ));
        }
    }
}
