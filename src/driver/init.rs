//! Taking over a target the way Flagger initializes a canary (reference §2.5 steps 6-14):
//! the edges read and check everything first and return initialization as data (the ordered
//! [`InitStep`]s); only then is it applied, step by step, and the state set to `Initialized`.
//! `plan` diffs the same steps. Idempotent: a second run writes nothing but the lock.

use super::edges::{Edges, Scope};
use crate::error::Error;
use crate::k8s::desired::{self, ClusterRead, InitStep, Read};
use crate::k8s::events::{self, Involved};
use crate::k8s::state_store::StateStore;
use crate::k8s::write::Outcome;
use crate::rollout::{Phase, RolloutState};
use crate::workload::Initialization;
use std::time::Duration;

/// Reads through `read` what the edges render from (every input error surfaces here, before a
/// write) and returns the ordered steps, with what the state records about the workload.
pub async fn sequence<'e>(
    edges: &'e Edges<'_>,
    read: &dyn Read,
    first: bool,
) -> Result<Initialization<'e>, Error> {
    let mut workload = edges.workload.initialization(read, first).await?;
    let route = edges.router.initialization(read).await?;
    workload.steps = in_order(std::mem::take(&mut workload.steps), route);
    Ok(workload)
}

/// The workload's steps (Services, primary, wait, apex, scale-down), then the router's: traffic
/// objects are only created once the apex selects a ready primary.
pub fn in_order<'a>(workload: Vec<InitStep<'a>>, router: Vec<InitStep<'a>>) -> Vec<InitStep<'a>> {
    workload.into_iter().chain(router).collect()
}

/// Initialization with the canary's lock already held; `wait` bounds each wait. Returns the
/// line that says what was done (`initialized (…)`, or `already initialized …`).
pub async fn initialize_locked(
    client: &kube::Client,
    scope: &Scope<'_>,
    edges: &Edges<'_>,
    wait: Duration,
    who: &str,
) -> Result<String, Error> {
    let (c, plan, namespace) = (scope.canary, scope.plan, scope.namespace);
    let mut store = StateStore::open(client, namespace, &c.name).await?;
    let first = store.state().is_none_or(|s| s.phase == Phase::Initializing);
    let read = ClusterRead::new(client, namespace);
    let seq = sequence(edges, &read, first).await?;
    let (api_version, kind) = edges.workload.kind();
    let involved = Involved {
        api_version,
        kind,
        namespace,
        name: &plan.names.target,
        uid: seq.uid.clone(),
    };
    for step in &seq.steps {
        apply_step(client, edges, scope, &involved, step, wait).await?;
    }
    if !first {
        let phase = store.state().map_or("unknown", |s| s.phase.kebab());
        return Ok(format!(
            "already initialized (phase {phase}); objects reconciled"
        ));
    }
    let state = RolloutState {
        phase: Phase::Initialized,
        reconciled: Some(reconcile_key(scope, &seq.revision)),
        last_applied_spec: Some(seq.revision.clone()),
        last_promoted_spec: Some(seq.revision),
        tracked_configs: seq.tracked_configs,
        run: Some(who.to_string()),
        ..RolloutState::default()
    };
    store.save(&state).await?;
    let done = format!("Initialization done! {}.{}", c.name, namespace);
    events::record(client, &involved, "Normal", "Synced", &done).await;
    Ok(format!("initialized ({})", plan.summary()))
}

/// One hash of what initialization renders from: the plan, the cluster options and the
/// target's `revision`. A tick reconciles when it differs from the stored one (the spec or the
/// target changed since), so a steady tick costs no request. It hashes the debug rendering, so
/// a new canary-gate version may reconcile once more than needed, never less.
pub fn reconcile_key(scope: &Scope<'_>, revision: &str) -> String {
    let c = scope.cluster;
    let text = format!(
        "{:?}|{:?}|{}|{revision}",
        scope.plan, c.workload, c.ingress_prefix
    );
    crate::workload::hash_json(&text)
}

/// Brings what initialization wrote (Services, route, copies) back to what the spec and the
/// target say now, as Flagger's per-tick reconcile does: the same objects `init` writes on an
/// initialized canary, without its waits (traffic is where the rollout put it).
pub async fn reconcile(
    client: &kube::Client,
    scope: &Scope<'_>,
    edges: &Edges<'_>,
) -> Result<(), Error> {
    let read = ClusterRead::new(client, scope.namespace);
    let seq = sequence(edges, &read, false).await?;
    for step in &seq.steps {
        if let InitStep::Apply(d) = step {
            desired::apply(client, scope.namespace, d).await?;
        }
    }
    Ok(())
}

async fn apply_step(
    client: &kube::Client,
    edges: &Edges<'_>,
    scope: &Scope<'_>,
    involved: &Involved<'_>,
    step: &InitStep<'_>,
    wait: Duration,
) -> Result<(), Error> {
    match step {
        InitStep::Apply(d) => {
            let outcome = desired::apply(client, scope.namespace, d).await?;
            let primary = &scope.plan.names.primary_workload;
            if outcome == Outcome::Created && &d.name == primary && d.resource.kind == involved.kind
            {
                let what = format!("{} created for canary {}", d.object(), scope.canary.name);
                events::record(client, involved, "Normal", "Synced", &what).await;
            }
        }
        InitStep::WaitPrimaryReady => edges.workload.wait_primary_ready(client, wait).await?,
        InitStep::ScaleTargetToZero { object, .. } => {
            if edges.workload.scale_to_zero(client).await? {
                tracing::info!("{object} scaled to 0: the apex Service selects the primary");
            }
        }
        InitStep::WaitRouteAccepted => {
            edges.router.routes(client, wait).await?;
        }
    }
    Ok(())
}
