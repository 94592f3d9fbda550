//! `run`, `step`, `promote` and `rollback`: each canary's session (the driver's, under its lock)
//! side by side up to `--max-parallel`, one Reporter per canary, the exit code the worst outcome.

use super::specs;
use crate::cli::ClusterArgs;
use crate::driver::edges::{Placed, Scope};
use crate::driver::executor::Executor;
use crate::driver::lock::under_lock;
use crate::driver::session::{Live, Mode, locked, shutdown_signal, sleep_until, verdict_of};
use crate::driver::{Cluster, namespace_on, runtime};
use crate::error::{Error, Outcome};
use crate::k8s::{Connection, connect};
use crate::metrics::{self, checks::MetricChecks, checks::Prometheus};
use crate::report::{self, Event, Report, Reporter, Verdict};
use crate::settings::Settings;
use crate::spec::model::{Canary, MetricTemplate};
use crate::webhooks::Caller;
use std::time::{Duration, Instant};

/// Runs the command for every canary in the specs; the exit code is the worst outcome.
pub fn run(settings: &Settings, args: &ClusterArgs, mode: Mode) -> Result<Outcome, Error> {
    let Some((loaded, cluster)) = specs::load_for(settings, args, "drive", mode.name())? else {
        return Ok(Outcome::Invalid);
    };
    mask_addresses(settings, &loaded);
    let runtime = runtime()?;
    let shortest = loaded
        .canaries
        .iter()
        .map(|c| c.analysis.interval)
        .min()
        .unwrap_or(Duration::from_secs(60));
    let budget = (shortest / 2).clamp(Duration::from_secs(1), Duration::from_secs(10));
    let files = Reporter::files_for(settings).map(report::summary::SharedFiles::new);
    // One limit for the whole command, however long a canary waits for its turn.
    let deadline = settings.timeout.map(|t| Instant::now() + t);
    let result = runtime.block_on(async {
        let conn = connect(settings, cluster.context.as_deref()).await?;
        // Several canaries run side by side, each under its own lock with its own reporter; the
        // log groups of one tick would interleave, so only a single canary gets them.
        let many = loaded.canaries.len() > 1;
        let slots = tokio::sync::Semaphore::new(settings.max_parallel);
        let stop = tokio::sync::watch::Sender::new(false);
        let job = Job {
            settings,
            cluster: &cluster,
            conn: &conn,
            templates: &loaded.templates,
            providers: &loaded.alert_providers,
            budget,
            mode: &mode,
            groups: !many,
            stop: &stop,
            deadline,
        };
        let fleet = &crate::report::github::Fleet::new(loaded.canaries.len());
        let each = loaded.canaries.iter().map(|c| {
            let (files, slots, job) = (files.clone(), &slots, &job);
            async move {
                let mut reporter = Reporter::for_canary(settings, fleet, budget, true, files);
                // Waiting for a turn ends early on a signal, the deadline or --fail-fast.
                let skipped = tokio::select! {
                    _slot = slots.acquire() => {
                        if *job.stop.borrow() {
                            Some("skipped: another canary failed (--fail-fast)")
                        } else {
                            let r = one(job, c, &mut reporter).await;
                            if settings.fail_fast
                                && !matches!(r, Ok(Outcome::Success | Outcome::Waiting))
                            {
                                job.stop.send_replace(true);
                            }
                            return r;
                        }
                    }
                    _ = shutdown_signal() => Some("skipped: cancelled"),
                    _ = sleep_until(job.deadline) => Some("skipped: timed out (--timeout)"),
                };
                let why = skipped.unwrap_or_default();
                let ns = namespace_on(settings, job.conn, c);
                let mut report = Report::new(format!("{ns}/{}", c.name), job.mode.name());
                reporter.say(&report, why);
                report.spec_file = Some(c.origin.file.clone());
                report.message = Some(why.to_string());
                report.verdict = Some(Verdict::Cancelled);
                reporter.send(Event::Finished, &mut report).await;
                Ok(Outcome::Failed)
            }
        });
        worst(futures::future::join_all(each).await)
    });
    if let Some(files) = &files {
        files.finish();
    }
    result
}

/// Webhook and metrics-server URLs may carry credentials: masked before anything can print them.
pub(super) fn mask_addresses(settings: &Settings, loaded: &crate::spec::Loaded) {
    let masker = settings.masker();
    for c in &loaded.canaries {
        for h in &c.analysis.webhooks {
            masker.mask_url(&h.url);
        }
        if let Some(server) = &c.metrics_server {
            masker.mask_url(server);
        }
    }
    for t in &loaded.templates {
        if let Some(address) = &t.address {
            masker.mask_url(address);
        }
    }
    if let Some(server) = &settings.metrics_server {
        masker.mask_url(server.as_str());
    }
    for p in &loaded.alert_providers {
        // A chat webhook's credential is often its path: the whole address is masked.
        for value in [&p.address, &p.proxy].into_iter().flatten() {
            masker.mask(value);
            masker.mask_url(value);
        }
    }
}

fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Success => 0,
        Outcome::Waiting => 1,
        Outcome::Failed => 2,
        Outcome::Invalid => 3,
        Outcome::Reported(_) => 4,
    }
}

/// The worst of the canaries' results (the exit code of the command): an error, else the worst
/// outcome.
pub fn worst(results: Vec<Result<Outcome, Error>>) -> Result<Outcome, Error> {
    let mut worst = Ok(Outcome::Success);
    for r in results {
        worst = match (worst, r) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(a), Ok(b)) if rank(b) > rank(a) => Ok(b),
            (Ok(a), Ok(_)) => Ok(a),
        };
    }
    worst
}

/// What every canary of one command shares.
struct Job<'a> {
    settings: &'a Settings,
    cluster: &'a Cluster,
    conn: &'a Connection,
    templates: &'a [MetricTemplate],
    /// The spec files' AlertProviders.
    providers: &'a [crate::spec::model::AlertProvider],
    /// Time for each event's messages (the check run's share of a tick).
    budget: Duration,
    mode: &'a Mode,
    /// One canary only: each tick's lines go in a `::group::`.
    groups: bool,
    /// Set when a canary fails under `--fail-fast`: the others stop.
    stop: &'a tokio::sync::watch::Sender<bool>,
    /// The end of `--timeout`, for the whole command.
    deadline: Option<Instant>,
}

async fn one(job: &Job<'_>, c: &Canary, reporter: &mut Reporter) -> Result<Outcome, Error> {
    let (settings, conn) = (job.settings, job.conn);
    let placed = Placed::new(namespace_on(settings, conn, c), c);
    let (namespace, plan) = (&placed.namespace, &placed.plan);
    let mut exec = executor(job, placed.scope(c, job.cluster))?;
    let mut report = Report::new(format!("{namespace}/{}", c.name), job.mode.name());
    report.spec_file = Some(c.origin.file.clone());
    report.threshold = plan.threshold;
    report.interval_seconds = exec.interval().as_secs_f64();
    report.run_url = settings.github.run_url();
    report.setup = report::notify::payload::setup(plan, namespace);
    let notifier = notifier(
        settings,
        conn,
        job.providers,
        c,
        namespace,
        &report,
        reporter,
    )
    .await;
    if let Some(n) = notifier {
        reporter.add(Box::new(n.with_budget(job.budget)));
    }
    reporter.send(Event::Started, &mut report).await;
    let result = under_lock(
        settings,
        job.cluster,
        conn,
        namespace,
        &c.name,
        async |who| {
            let mut live = Live {
                reporter: &mut *reporter,
                report: &mut report,
                groups: job.groups,
                stop: job.stop.subscribe(),
                deadline: job.deadline,
                start_last: None,
            };
            locked(settings, conn, &mut exec, who, job.mode, &mut live).await
        },
    )
    .await;
    let verdict = match (&result, report.verdict.take()) {
        (_, Some(v)) => v,
        (Err(e), None) => Verdict::Error(e.to_string()),
        (Ok(_), None) => verdict_of(&report, job.mode),
    };
    report.findings = report::findings::rollout_findings(c, &report.steps, &verdict);
    report.verdict = Some(verdict);
    reporter.send(Event::Finished, &mut report).await;
    // The console sink has printed an error as the canary's verdict, on its spec line.
    Ok(result.unwrap_or_else(|e| Outcome::Reported(e.exit_code())))
}

/// The notifier of canary `c`, when it has alert providers that resolve (a warning on the
/// report's console for each that does not).
pub(super) async fn notifier(
    settings: &Settings,
    conn: &Connection,
    providers: &[crate::spec::model::AlertProvider],
    c: &Canary,
    namespace: &str,
    report: &Report,
    reporter: &mut Reporter,
) -> Option<report::notify::Notifier> {
    let masker = settings.masker();
    let found =
        report::notify::resolve::targets(c, namespace, providers, &conn.client, &masker).await;
    for w in &found.warnings {
        reporter.say(report, format!("warning: {w}"));
    }
    let none = found.targets.is_empty();
    (!none).then(|| report::notify::Notifier::new(found.targets, Duration::from_secs(5)))
}

/// The executor of one canary: webhook and metric clients, its edges.
fn executor<'a>(job: &Job<'a>, scope: Scope<'a>) -> Result<Executor<'a>, Error> {
    let hooks = Caller::new().map_err(|e| Error::Infra(format!("webhook client: {e}")))?;
    let cloud = crate::cloud::Cloud::new(
        crate::cloud::Env::from_process(),
        job.settings.cloud.clone(),
        job.settings.masker(),
    )?;
    let signer = std::sync::Arc::new(crate::cloud::metrics::Signer::new(cloud));
    let provider = Prometheus::new()
        .map_err(Error::Infra)?
        .with_cloud(signer, job.settings.cloud.metrics_auth);
    let default_server = job
        .settings
        .metrics_server
        .as_ref()
        .map_or_else(|| metrics::DEFAULT_SERVER.to_string(), |u| u.to_string());
    let checks = MetricChecks {
        client: &job.conn.client,
        namespace: scope.namespace,
        plan: scope.plan,
        templates: job.templates,
        default_server,
        provider: Box::new(provider),
        observer: None,
        masker: job.settings.masker(),
    };
    Executor::new(&job.conn.client, scope, hooks, checks)
}
