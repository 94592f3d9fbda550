//! What `status` reports: the stored state and the live split, read without the lock and without
//! an executor (no webhook or metric clients). Writes nothing.

use super::edges::{Scope, choose};
use crate::error::Error;
use crate::k8s::state_store::StateStore;
use crate::rollout::RolloutState;

/// One canary's state as `status` shows it.
#[derive(Debug)]
pub struct Status {
    /// `None`: not initialized.
    pub state: Option<RolloutState>,
    /// The live canary weight, or the stored one when the route cannot be read.
    pub weight: u32,
}

/// Reads the state and, for an initialized canary, the live split.
pub async fn read(client: &kube::Client, scope: &Scope<'_>) -> Result<Status, Error> {
    let store = StateStore::open(client, scope.namespace, &scope.plan.name).await?;
    let state = store.state().cloned();
    let stored = state.as_ref().map_or(0, |s| s.canary_weight);
    let weight = match &state {
        None => stored,
        Some(_) => {
            let edges = choose(scope)?;
            let wait = std::time::Duration::ZERO;
            let live = edges.router.routes(client, wait).await.ok();
            live.map_or(stored, |r| r.canary)
        }
    };
    Ok(Status { state, weight })
}
