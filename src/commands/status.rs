//! `canary-gate status`: each canary's phase, live weight and failed checks, as text or JSON;
//! `--watch` repeats until it settles. Reads the state without the lock; writes nothing.

use super::run::worst;
use super::specs;
use crate::cli::{Format, StatusArgs};
use crate::driver::edges::{Placed, Scope};
use crate::driver::session::outcome_of;
use crate::driver::{Cluster, namespace_on, runtime, status};
use crate::error::{Error, Outcome};
use crate::k8s::connect;
use crate::rollout::Phase;
use crate::settings::Settings;
use crate::spec::model::Canary;
use std::time::Duration;

/// Runs `status` for every canary in the specs; the exit code is the worst outcome.
pub fn run(settings: &Settings, args: &StatusArgs) -> Result<Outcome, Error> {
    let Some((loaded, cluster)) = specs::load_for(settings, &args.cluster, "drive", "status")?
    else {
        return Ok(Outcome::Invalid);
    };
    runtime()?.block_on(async {
        let conn = connect(settings, cluster.context.as_deref()).await?;
        let each = loaded.canaries.iter().map(|c| {
            let namespace = namespace_on(settings, &conn, c);
            let (cluster, client) = (&cluster, &conn.client);
            async move { watch(client, c, cluster, &namespace, args).await }
        });
        worst(futures::future::join_all(each).await)
    })
}

async fn watch(
    client: &kube::Client,
    c: &Canary,
    cluster: &Cluster,
    namespace: &str,
    args: &StatusArgs,
) -> Result<Outcome, Error> {
    let placed = Placed::new(namespace.to_string(), c);
    let scope = placed.scope(c, cluster);
    loop {
        let s = status::read(client, &scope).await?;
        println!("{}", line(&scope, &s, args.output));
        let state = s.state.unwrap_or_default();
        let settled = matches!(
            state.phase,
            Phase::Succeeded
                | Phase::Failed
                | Phase::Initialized
                | Phase::Waiting
                | Phase::WaitingPromotion
        );
        if !args.watch || settled {
            return Ok(outcome_of(state.phase));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// One report line, as text or JSON.
fn line(scope: &Scope<'_>, s: &status::Status, format: Format) -> String {
    let plan = scope.plan;
    let initialized = s.state.is_some();
    let state = s.state.clone().unwrap_or_default();
    let weight = s.weight;
    match format {
        Format::Json => serde_json::json!({
            "name": plan.name, "namespace": scope.namespace,
            "phase": state.phase.kebab(), "canaryWeight": weight,
            "failedChecks": state.failed_checks, "threshold": plan.threshold,
            "iterations": state.iterations, "message": state.message,
            "initialized": initialized, "suspended": plan.suspend,
        })
        .to_string(),
        Format::Text => format!(
            "{}/{}: {}{}, canary weight {weight}%, failed checks {}/{}{}",
            scope.namespace,
            plan.name,
            if initialized {
                state.phase.kebab()
            } else {
                "not initialized"
            },
            if plan.suspend { " (suspended)" } else { "" },
            state.failed_checks,
            plan.threshold,
            state
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
    }
}
