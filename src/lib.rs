//! canary-gate: progressive delivery for Kubernetes, driven from the CI job.
//!
//! It reads a Flagger-compatible `Canary` spec, creates the primary and canary objects, moves
//! traffic step by step, checks metrics and webhooks, promotes or rolls back, and reports to
//! GitHub.
//!
//! ```text
//! cli::Cli -> Settings -> spec::load --validate--> spec::model::Canary -> rollout::Plan
//!                                                                         |
//! driver:    observe (Workload, TrafficRouter) -> rollout::step(plan, state, observed, checks)
//!            query   (metrics, webhooks) --->        |
//!            apply   <---------------------- Decision { next_state, actions, notes }
//!            save    (StateStore) / report (Reporter) <--'
//! ```
//!
//! `spec` and `rollout` are pure: no kube, k8s-openapi, octocrab, reqwest or tokio, no clock, no
//! I/O. Everything that talks to the world lives at the edges (`k8s`, `router`, `workload`,
//! `metrics`, `webhooks`, `report`, `sources`), chosen and sequenced by `driver`; `commands` are
//! thin adapters over it.

pub mod cli;
pub mod cloud;
pub mod commands;
pub mod driver;
pub mod error;
pub mod k8s;
pub mod logging;
pub mod metrics;
pub mod report;
pub mod rollout;
pub mod router;
pub mod settings;
pub mod sources;
pub mod spec;
pub mod webhooks;
pub mod workload;
