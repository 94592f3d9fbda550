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
    super::run::mask_addresses(settings, &loaded);
    runtime()?.block_on(async {
        let conn = connect(settings, cluster.context.as_deref()).await?;
        for c in &loaded.canaries {
            let mut reporter = Reporter::console(settings);
            let done = initialize(settings, &cluster, &conn, c).await?;
            let namespace = namespace_on(settings, &conn, c);
            let mut report = Report::new(canary_id(&namespace, &c.name), "init");
            let first = done.starts_with("initialized");
            reporter.say(&report, done);
            if first {
                let at = Announce {
                    settings,
                    conn: &conn,
                    providers: &loaded.alert_providers,
                    namespace: &namespace,
                };
                at.announce(c, &mut report, &mut reporter).await;
            }
        }
        Ok(Outcome::Success)
    })
}

/// Where a canary's take-over is announced.
struct Announce<'a> {
    settings: &'a Settings,
    conn: &'a Connection,
    providers: &'a [crate::spec::model::AlertProvider],
    namespace: &'a str,
}

impl Announce<'_> {
    /// Flagger's alert once a target is taken over, to the canary's alert providers.
    async fn announce(&self, c: &Canary, report: &mut Report, reporter: &mut Reporter) {
        let plan = crate::rollout::Plan::new(c).0;
        report.setup = crate::report::notify::payload::setup(&plan, self.namespace);
        report.run_url = self.settings.github.run_url();
        let alert = crate::rollout::manual::initialized_alert(&plan);
        report.alerts.push(crate::report::AlertRecord {
            severity: alert.severity,
            message: alert.message,
            details: alert.details,
            phase: Some(crate::rollout::Phase::Initialized),
            weight: 0,
        });
        let (s, conn, ns) = (self.settings, self.conn, self.namespace);
        let n = super::run::notifier(s, conn, self.providers, c, ns, report, reporter).await;
        if let Some(n) = n {
            reporter.add(Box::new(n));
            reporter.send(crate::report::Event::Finished, report).await;
        }
    }
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
