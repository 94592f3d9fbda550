//! `RolloutState`: what canary-gate remembers about a canary between jobs (stored as JSON in the
//! ConfigMap `canary-gate.<canary>`), and the three-valued health of a workload.
//!
//! Pure data: the edges read and write it; the state machine decides with it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Flagger's phases (reference §2.2), spelled as Flagger spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing done yet.
    #[default]
    Initializing,
    /// Primary created and ready, Services and routing reconciled, target scaled to zero.
    Initialized,
    /// A confirm-rollout gate is closed.
    Waiting,
    /// Analysis running.
    Progressing,
    /// A confirm-promotion gate is closed.
    WaitingPromotion,
    /// Target spec copied to the primary.
    Promoting,
    /// All traffic back on the primary.
    Finalising,
    /// Done.
    Succeeded,
    /// Rolled back.
    Failed,
}

impl Phase {
    /// The output spelling (`waiting-promotion`).
    pub fn kebab(self) -> &'static str {
        match self {
            Phase::Initializing => "initializing",
            Phase::Initialized => "initialized",
            Phase::Waiting => "waiting",
            Phase::Progressing => "progressing",
            Phase::WaitingPromotion => "waiting-promotion",
            Phase::Promoting => "promoting",
            Phase::Finalising => "finalising",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
        }
    }
}

/// The stored state of one canary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RolloutState {
    /// Current phase.
    pub phase: Phase,
    /// Last canary weight written.
    pub canary_weight: u32,
    /// Failed checks in the current analysis.
    pub failed_checks: u32,
    /// Completed iterations (A/B, blue/green).
    pub iterations: u32,
    /// Hash of the target's pod template at the last sync.
    pub last_applied_spec: Option<String>,
    /// Hash of the pod template now on the primary.
    pub last_promoted_spec: Option<String>,
    /// `configmap/<name>` / `secret/<name>` → checksum of the tracked configs.
    pub tracked_configs: BTreeMap<String, String>,
    /// What the Services and routes were last reconciled from (a hash of the spec's plan and
    /// the target's revision); a change reconciles them at the next tick.
    pub reconciled: Option<String>,
    /// Why the phase is what it is, when that is not obvious (e.g. `cancelled`).
    pub message: Option<String>,
    /// The ticks of the current and earlier runs (the newest last, at most 200), for reports.
    pub history: Vec<StepRecord>,
    /// The workflow run (or host/pid) that wrote this state last.
    pub run: Option<String>,
    /// When it was written (RFC 3339, from the edge's clock).
    pub updated: Option<String>,
}

impl RolloutState {
    /// When the canary last moved (Flagger's status `lastTransitionTime`, as RFC 3339 text): the
    /// first recorded step of the latest run of steps at the current phase and weight, else when
    /// the state was written. A target whose status has no progress deadline (a DaemonSet) is
    /// stuck once it has waited `progressDeadlineSeconds` past it.
    pub fn last_transition(&self) -> Option<&str> {
        let same = |s: &StepRecord| s.phase == self.phase && s.weight == self.canary_weight;
        let tail = self.history.iter().rev().take_while(|s| same(s)).last();
        tail.map(|s| s.at.as_str()).or(self.updated.as_deref())
    }
}

/// One tick as reports show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepRecord {
    /// When (RFC 3339).
    pub at: String,
    /// Phase after the tick.
    pub phase: Phase,
    /// Canary weight after the tick.
    pub weight: u32,
    /// Failed checks after the tick.
    pub failed_checks: u32,
    /// Metric values measured this tick.
    pub metrics: Vec<MetricRecord>,
    /// Webhooks called as gates or checks this tick.
    pub hooks: Vec<HookRecord>,
    /// What happened.
    pub notes: Vec<String>,
}

/// One metric value against its range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MetricRecord {
    /// Metric name.
    pub name: String,
    /// The value, when there was one.
    pub value: Option<f64>,
    /// Lowest passing value.
    pub min: Option<f64>,
    /// Highest passing value.
    pub max: Option<f64>,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed.
    pub reason: Option<String>,
}

/// One webhook call and its answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HookRecord {
    /// Webhook name.
    pub name: String,
    /// Its type as written (`confirm-promotion`).
    pub kind: String,
    /// Whether it let the rollout go on.
    pub passed: bool,
    /// Why not.
    pub reason: Option<String>,
}

/// How a workload is doing (reference §3.6), three-valued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Ready to take traffic.
    Ready,
    /// Not yet; worth waiting.
    Waiting(String),
    /// Will not get there (deadline exceeded): roll back or stop.
    Stuck(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_tolerates_missing_fields() {
        let s = RolloutState {
            phase: Phase::Initialized,
            last_applied_spec: Some("abc".into()),
            last_promoted_spec: Some("abc".into()),
            ..RolloutState::default()
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"phase\":\"Initialized\""), "{text}");
        assert_eq!(serde_json::from_str::<RolloutState>(&text).unwrap(), s);
        let old: RolloutState = serde_json::from_str(r#"{"phase":"Succeeded"}"#).unwrap();
        assert_eq!(old.phase, Phase::Succeeded);
        assert_eq!(Phase::WaitingPromotion.kebab(), "waiting-promotion");
    }
}
