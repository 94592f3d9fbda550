//! Metrics: the built-in queries (`builtin.rs`), template rendering (`template.rs`), which
//! queries a metric runs where (`queries.rs`), the Prometheus client (`prometheus.rs`) and one
//! canary's checks behind the `MetricsProvider` trait (`checks.rs`). Queries are kept apart from
//! where they run; "no data" is kept apart from "failed". Judging values against thresholds is
//! the core's job.

pub mod builtin;
pub mod checks;
pub mod prometheus;
pub mod queries;
pub mod template;

/// Flagger's default metrics server.
pub const DEFAULT_SERVER: &str = "http://prometheus:9090";
