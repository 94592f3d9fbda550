//! `canary-gate init`: take over each canary's target (the driver's initialization, under the
//! canary's lock), one canary after the other. Idempotent: a second run writes nothing but the
//! lock.

use super::specs;
use crate::cli::InitArgs;
use crate::driver::edges::{Placed, choose};
use crate::driver::init::initialize_locked;
use crate::driver::lock::under_lock;
use crate::driver::{Cluster, namespace_on, runtime};
use crate::error::{Error, Outcome};
use crate::k8s::{Connection, canary_id, connect};
use crate::report::{Report, Reporter};
use crate::settings::Settings;
use crate::spec::model::Canary;

/// Runs `init` for every canary in the given specs, one after the other.
pub fn run(settings: &Settings, args: &InitArgs) -> Result<Outcome, Error> {
    let Some((loaded, cluster)) = specs::load_for(settings, &args.cluster, "initialize", "init")?
    else {
        return Ok(Outcome::Invalid);
    };
    let mut reporter = Reporter::console(settings);
    runtime()?.block_on(async {
        let conn = connect(settings, cluster.context.as_deref()).await?;
        for c in &loaded.canaries {
            let done = initialize(settings, &cluster, &conn, c).await?;
            let report = Report::new(
                canary_id(&namespace_on(settings, &conn, c), &c.name),
                "init",
            );
            reporter.say(&report, done);
        }
        Ok(Outcome::Success)
    })
}

async fn initialize(
    settings: &Settings,
    cluster: &Cluster,
    conn: &Connection,
    c: &Canary,
) -> Result<String, Error> {
    let placed = Placed::new(namespace_on(settings, conn, c), c);
    let scope = placed.scope(c, cluster);
    let edges = choose(&scope)?;
    let wait = settings.timeout.unwrap_or(placed.plan.progress_deadline);
    under_lock(
        settings,
        cluster,
        conn,
        &placed.namespace,
        &c.name,
        async |who| initialize_locked(&conn.client, &scope, &edges, wait, who).await,
    )
    .await
}
