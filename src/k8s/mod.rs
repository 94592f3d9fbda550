//! The cluster edge: connection and auth, the one write helper, the state store and run lock,
//! and Events. Must not decide anything about rollouts (that is `rollout/`).

pub mod connect;
pub mod events;
pub mod lock;
pub mod state_store;
pub mod write;

pub use connect::{Connection, connect};

/// Annotation marking objects canary-gate created for a canary (`<namespace>/<name>`); "owned"
/// means this annotation.
pub const OWNER_ANNOTATION: &str = "canary-gate.dev/canary";
/// Label on every object canary-gate creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "canary-gate");

/// The `<namespace>/<name>` id of a canary.
pub fn canary_id(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}
