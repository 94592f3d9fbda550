//! PURE. The rollout: the plan a validated canary implies (`plan.rs`, with Flagger's object names)
//! and the tick that walks it (`tick.rs`: one stage per tick, `step` and its driver `decide`),
//! with the manual decisions (`manual.rs`) and the judging of metric values (`analysis.rs`).
//!
//! Owns every decision about weights, iterations and strategy. Must not import kube, k8s-openapi,
//! octocrab, reqwest or tokio, must not read a clock or do I/O (a test enforces the imports).

pub mod analysis;
pub mod decision;
pub mod manual;
pub mod plan;
pub mod state;
pub mod tick;
pub mod weights;

pub use decision::{
    Action, Alert, CheckKind, Checks, Decision, GateOutcome, MetricOutcome, Note, NoteKind,
    Observed, Routes, Step, past_deadline,
};
pub use plan::{Names, Plan, PlanNote, Strategy, canary_name, primary_name, state_name};
pub use state::{Health, HookRecord, MetricRecord, Phase, RolloutState, StepRecord};
pub use tick::{decide, step};
