//! `run`, `step`, `promote` and `rollback`: each canary under its lock, driven by the driver's
//! executor, side by side up to `--max-parallel`; SIGINT/SIGTERM route all traffic back to the
//! primary. The reports go through one Reporter per canary.

use super::specs;
use crate::cli::ClusterArgs;
use crate::driver::edges::{Placed, Scope};
use crate::driver::executor::Executor;
use crate::driver::lock::under_lock;
use crate::driver::{Cluster, namespace_on, runtime};
use crate::error::{Error, Outcome};
use crate::k8s::state_store::StateStore;
use crate::k8s::{Connection, connect};
use crate::metrics::{self, checks::MetricChecks, checks::Prometheus};
use crate::report::{self, Event, Report, Reporter, Verdict};
use crate::rollout::{Action, Phase, Routes};
use crate::settings::Settings;
use crate::spec::duration::format_duration;
use crate::spec::model::{Canary, MetricTemplate};
use crate::webhooks::Caller;
use std::time::{Duration, Instant};

/// Which command (`run` and `step` first apply the release: the `apply` and `image` inputs).
pub enum Mode {
    /// Tick to the end.
    Run,
    /// One tick, or until a weight.
    Step(Option<u32>),
    /// Promote now.
    Promote,
    /// Roll back now.
    Rollback,
}

impl Mode {
    /// The command's name.
    fn name(&self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Step(_) => "step",
            Mode::Promote => "promote",
            Mode::Rollback => "rollback",
        }
    }
}

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
fn mask_addresses(settings: &Settings, loaded: &crate::spec::Loaded) {
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

/// The exit outcome of a canary left in `phase`.
pub fn outcome_of(phase: Phase) -> Outcome {
    match phase {
        Phase::Failed => Outcome::Failed,
        Phase::Waiting | Phase::WaitingPromotion => Outcome::Waiting,
        _ => Outcome::Success,
    }
}

/// What every canary of one command shares.
struct Job<'a> {
    settings: &'a Settings,
    cluster: &'a Cluster,
    conn: &'a Connection,
    templates: &'a [MetricTemplate],
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

/// The executor of one canary: webhook and metric clients, its edges.
fn executor<'a>(job: &Job<'a>, scope: Scope<'a>) -> Result<Executor<'a>, Error> {
    let hooks = Caller::new().map_err(|e| Error::Infra(format!("webhook client: {e}")))?;
    let provider = Prometheus::new().map_err(Error::Infra)?;
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

/// The report of the canary being driven and where it goes.
struct Live<'r> {
    reporter: &'r mut Reporter,
    report: &'r mut Report,
    /// Whether each tick's lines go in a `::group::` (one canary at a time only).
    groups: bool,
    /// Becomes true when another canary failed and `--fail-fast` is set.
    stop: tokio::sync::watch::Receiver<bool>,
    /// The end of `--timeout`.
    deadline: Option<Instant>,
    /// The newest step stored before this run, so an earlier run's step is never reported.
    start_last: Option<crate::rollout::StepRecord>,
}

impl Live<'_> {
    /// One line of progress about this canary.
    fn say(&mut self, line: impl AsRef<str>) {
        self.reporter.say(self.report, line);
    }

    /// The notes of a decision carried out, one line each.
    fn notes(&mut self, d: &crate::rollout::Decision) {
        for n in &d.notes {
            self.say(&n.message);
        }
    }

    /// Takes the state after a tick (and its step, when the tick recorded one) and reports it.
    async fn ticked(
        &mut self,
        state: &crate::rollout::RolloutState,
        before: Option<&crate::rollout::StepRecord>,
    ) {
        let r = &mut *self.report;
        r.phase = Some(state.phase);
        r.weight = state.canary_weight;
        r.failed_checks = state.failed_checks;
        r.message = state.message.clone();
        if let Some(last) = state.history.last()
            && before != Some(last)
        {
            r.steps.push(last.clone());
            r.weight = last.weight;
        }
        self.reporter.send(Event::Ticked, r).await;
    }
}

/// The verdict when the run ended without a special case (cancel, timeout, nothing to do).
fn verdict_of(r: &Report, mode: &Mode) -> Verdict {
    match r.phase {
        Some(Phase::Succeeded) => Verdict::Promoted,
        Some(Phase::Failed) => Verdict::RolledBack,
        Some(Phase::Waiting) => Verdict::Paused(
            "a confirm-rollout webhook holds the new revision; the next `run` or `step` asks it again".into(),
        ),
        Some(Phase::WaitingPromotion) => Verdict::Paused(
            "a confirm-promotion webhook holds the promotion; open it, or run `canary-gate promote`".into(),
        ),
        Some(Phase::Initialized) | None => Verdict::NothingToDo,
        Some(p) => Verdict::Paused(format!(
            "{} at {}% canary weight after `{}`; continue with `canary-gate step` or `run`, skip the rest with `promote`, stop with `rollback`",
            p.kebab(),
            r.weight,
            mode.name()
        )),
    }
}

async fn locked(
    settings: &Settings,
    conn: &Connection,
    exec: &mut Executor<'_>,
    who: &str,
    mode: &Mode,
    live: &mut Live<'_>,
) -> Result<Outcome, Error> {
    let scope = exec.scope();
    let (c, plan, namespace) = (scope.canary, scope.plan, scope.namespace);
    // As Flagger: a suspended canary is neither initialized nor reconciled, and its traffic
    // stays where it is (the release files and images are not applied either).
    if plan.suspend && matches!(mode, Mode::Run | Mode::Step(_)) {
        live.report.verdict = Some(Verdict::NothingToDo);
        live.say("suspended (spec.suspend: true): nothing reconciled, traffic left as it is");
        return Ok(Outcome::Success);
    }
    let mut store = StateStore::open(&conn.client, namespace, &c.name).await?;
    if store.state().is_none_or(|s| s.phase == Phase::Initializing) {
        if matches!(mode, Mode::Run | Mode::Step(_)) && live.groups && !settings.images.is_empty() {
            super::release::check_images(exec, &settings.images).await?;
        }
        let wait = settings.timeout.unwrap_or(plan.progress_deadline);
        let done = exec.initialize(wait, who).await?;
        live.say(done);
        store = StateStore::open(&conn.client, namespace, &c.name).await?;
    }
    live.start_last = store.state().and_then(|s| s.history.last().cloned());
    match mode {
        Mode::Rollback => return rollback(exec, &mut store, live).await,
        Mode::Promote => {
            let state = store.state().cloned().unwrap_or_default();
            let obs = exec.observe().await?;
            let Some(d) = crate::rollout::manual::promote(plan, &state, &obs) else {
                live.say(format!(
                    "nothing to promote (phase {})",
                    state.phase.kebab()
                ));
                return Ok(outcome_of(state.phase));
            };
            let before = state.history.last().cloned();
            let d = exec
                .commit_manual(&mut store, d, state.canary_weight)
                .await?;
            live.notes(&d);
            live.ticked(&d.state, before.as_ref()).await;
        }
        Mode::Run | Mode::Step(_) => {
            if !settings.apply.is_empty() {
                for line in super::release::apply_files(settings, exec, &settings.apply).await? {
                    live.say(line);
                }
            }
            if !settings.images.is_empty() {
                // With several canaries an image goes to the targets that have its container.
                let strict = live.groups;
                super::release::set_images(exec, &settings.images, strict).await?;
            }
        }
    }
    let deadline = live.deadline;
    let mut stop = live.stop.clone();
    let ended = {
        let driving = drive(exec, &mut store, mode, live);
        tokio::pin!(driving);
        tokio::select! {
            r = &mut driving => End::Done(r),
            _ = shutdown_signal() => End::Cancelled("cancelled"),
            _ = stop.wait_for(|s| *s) => End::Cancelled("stopped: another canary failed (--fail-fast)"),
            _ = sleep_until(deadline) => End::TimedOut,
        }
    };
    if !matches!(ended, End::Done(Ok(_) | Err(Error::Invalid(_)))) {
        // A write may have been cut short: start from what is stored.
        store = StateStore::open(&conn.client, namespace, &c.name).await?;
    }
    match ended {
        End::Done(r) => r,
        End::Cancelled(why) => {
            let d = exec.abort(&mut store, why).await?;
            d.iter().for_each(|d| live.notes(d));
            after_abort(live, &store, Verdict::Cancelled).await;
            Ok(Outcome::Failed)
        }
        End::TimedOut => {
            let d = exec.abort(&mut store, "timed out (--timeout)").await?;
            d.iter().for_each(|d| live.notes(d));
            after_abort(live, &store, Verdict::TimedOut).await;
            Err(Error::Infra(format!(
                "{namespace}/{}: timed out after {}",
                c.name,
                format_duration(settings.timeout.unwrap_or_default())
            )))
        }
    }
}

/// How driving a canary ended.
enum End {
    /// On its own.
    Done(Result<Outcome, Error>),
    /// Cut short (a signal, or `--fail-fast`): why.
    Cancelled(&'static str),
    /// `--timeout` ran out.
    TimedOut,
}

async fn after_abort(live: &mut Live<'_>, store: &StateStore, verdict: Verdict) {
    if let Some(state) = store.state() {
        let state = state.clone();
        let before = live
            .report
            .steps
            .last()
            .cloned()
            .or_else(|| live.start_last.clone());
        live.ticked(&state, before.as_ref()).await;
    }
    live.report.verdict = Some(verdict);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGINT or SIGTERM (the runner sends SIGINT, then SIGTERM 7.5 s later).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

async fn drive(
    exec: &mut Executor<'_>,
    store: &mut StateStore,
    mode: &Mode,
    live: &mut Live<'_>,
) -> Result<Outcome, Error> {
    let (target, threshold) = (&exec.scope().plan.target.name, exec.scope().plan.threshold);
    for warning in exec.check_providers().await {
        live.say(format!("warning: {warning}"));
    }
    let mut weight = exec.routes().await?.canary;
    loop {
        if live.groups {
            live.reporter.fold(live.report, true);
        }
        let before = store.state().and_then(|s| s.history.last().cloned());
        let decision = exec.tick(store).await;
        if let Ok(d) = &decision {
            live.notes(d);
        }
        if live.groups {
            live.reporter.fold(live.report, false);
        }
        let decision = decision?;
        live.ticked(&decision.state, before.as_ref()).await;
        let s = &decision.state;
        for a in &decision.actions {
            if let Action::SetRoutes(r) = a {
                weight = r.canary;
            }
        }
        let routes = Routes {
            primary: 100 - weight,
            canary: weight,
            mirrored: false,
        };
        live.say(format!(
            "{}, canary weight {}%, failed checks {}/{}",
            s.phase.kebab(),
            routes.canary,
            s.failed_checks,
            threshold
        ));
        let outcome = outcome_of(s.phase);
        let idle = matches!(
            s.phase,
            Phase::Initialized | Phase::Succeeded | Phase::Failed
        ) && decision.actions.is_empty()
            && decision.notes.is_empty();
        let done = match mode {
            Mode::Step(None) => true,
            Mode::Step(Some(w)) => {
                routes.canary >= *w
                    || outcome != Outcome::Success
                    || matches!(
                        s.phase,
                        Phase::Succeeded | Phase::Promoting | Phase::Finalising
                    )
                    || idle
            }
            _ => matches!(s.phase, Phase::Succeeded | Phase::Failed) || idle,
        };
        if idle {
            live.report.verdict = Some(Verdict::NothingToDo);
            live.say(format!("no new revision of {target}; nothing to do"));
        }
        if done {
            if let Some(m) = &s.message {
                live.say(m);
            }
            return Ok(outcome);
        }
        live.say(format!("next tick in {}", format_duration(exec.interval())));
        tokio::time::sleep(exec.interval()).await;
    }
}

async fn rollback(
    exec: &mut Executor<'_>,
    store: &mut StateStore,
    live: &mut Live<'_>,
) -> Result<Outcome, Error> {
    let state = store.state().cloned().unwrap_or_default();
    let obs = exec.observe().await?;
    match crate::rollout::manual::rollback(exec.scope().plan, &state, &obs) {
        Some(d) => {
            let d = exec.commit_manual(store, d, obs.routes.canary).await?;
            live.notes(&d);
            live.ticked(&d.state, state.history.last()).await;
            live.report.verdict = Some(Verdict::RolledBack);
        }
        None => live.say(format!(
            "nothing to roll back (phase {})",
            state.phase.kebab()
        )),
    }
    Ok(Outcome::Success)
}
