//! One canary's session under its lock: initialize when needed, apply the release, then drive
//! the ticks (`run`, `step`) or take the manual decision (`promote`, `rollback`), until it ends,
//! is cancelled (SIGINT/SIGTERM, `--fail-fast`: traffic back to the primary) or times out.
//! Progress leaves through the canary's Reporter only. Must not parse flags or load specs.

use super::executor::Executor;
use super::release;
use crate::error::{Error, Outcome};
use crate::k8s::Connection;
use crate::k8s::state_store::StateStore;
use crate::report::{Event, Report, Reporter, Verdict};
use crate::rollout::{Action, Phase, Routes};
use crate::settings::Settings;
use crate::spec::duration::format_duration;
use std::time::Instant;

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
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Step(_) => "step",
            Mode::Promote => "promote",
            Mode::Rollback => "rollback",
        }
    }
}

/// The exit outcome of a canary left in `phase`.
pub fn outcome_of(phase: Phase) -> Outcome {
    match phase {
        Phase::Failed => Outcome::Failed,
        Phase::Waiting | Phase::WaitingPromotion => Outcome::Waiting,
        _ => Outcome::Success,
    }
}

/// The report of the canary being driven and where it goes.
pub struct Live<'r> {
    /// Where the canary's progress goes.
    pub reporter: &'r mut Reporter,
    /// The canary's report.
    pub report: &'r mut Report,
    /// Whether each tick's lines go in a `::group::` (one canary at a time only).
    pub groups: bool,
    /// Becomes true when another canary failed and `--fail-fast` is set.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// The end of `--timeout`.
    pub deadline: Option<Instant>,
    /// The newest step stored before this run, so an earlier run's step is never reported.
    pub start_last: Option<crate::rollout::StepRecord>,
}

impl Live<'_> {
    /// One line of progress about this canary.
    fn say(&mut self, line: impl AsRef<str>) {
        self.reporter.say(self.report, line);
    }

    /// The notes of a decision carried out, one line each; its alerts go on the report.
    fn notes(&mut self, d: &crate::rollout::Decision) {
        for n in &d.notes {
            self.say(&n.message);
        }
        for a in &d.alerts {
            self.alert(a.clone(), &d.state);
        }
    }

    /// Raises an alert where the canary stands in `state`.
    fn alert(&mut self, a: crate::rollout::Alert, state: &crate::rollout::RolloutState) {
        self.report.alerts.push(crate::report::AlertRecord {
            severity: a.severity,
            message: a.message,
            details: a.details,
            phase: Some(state.phase),
            weight: state.canary_weight,
        });
    }

    /// Takes the state after a tick (and its step, when the tick recorded one) and reports it.
    async fn ticked(
        &mut self,
        state: &crate::rollout::RolloutState,
        before: Option<&crate::rollout::StepRecord>,
    ) {
        let r = &mut *self.report;
        r.phase = Some(state.phase);
        r.revision.clone_from(&state.last_applied_spec);
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
pub fn verdict_of(r: &Report, mode: &Mode) -> Verdict {
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

/// What one canary's command does once its lock is held by `who`.
pub async fn locked(
    settings: &Settings,
    conn: &Connection,
    exec: &mut Executor<'_>,
    who: &str,
    mode: &Mode,
    live: &mut Live<'_>,
) -> Result<Outcome, Error> {
    // As Flagger: a suspended canary is neither initialized nor reconciled, and its traffic
    // stays where it is (the release files and images are not applied either).
    if exec.scope().plan.suspend && matches!(mode, Mode::Run | Mode::Step(_)) {
        live.report.verdict = Some(Verdict::NothingToDo);
        live.say("suspended (spec.suspend: true): nothing reconciled, traffic left as it is");
        return Ok(Outcome::Success);
    }
    let mut store = initialized(settings, conn, exec, who, mode, live).await?;
    live.start_last = store.state().and_then(|s| s.history.last().cloned());
    match mode {
        Mode::Rollback => return rollback(exec, &mut store, live).await,
        Mode::Promote => {
            if let Some(outcome) = promote(exec, &mut store, live).await? {
                return Ok(outcome);
            }
        }
        Mode::Run | Mode::Step(_) => apply_release(settings, exec, live).await?,
    }
    ticks(settings, conn, exec, &mut store, mode, live).await
}

/// The canary's stored state, after initializing it when it has none yet (`run` and `step`
/// first check the `--image` containers, so a wrong name writes nothing).
async fn initialized(
    settings: &Settings,
    conn: &Connection,
    exec: &mut Executor<'_>,
    who: &str,
    mode: &Mode,
    live: &mut Live<'_>,
) -> Result<StateStore, Error> {
    let scope = exec.scope();
    let (name, plan, namespace) = (&scope.plan.name, scope.plan, scope.namespace);
    let store = StateStore::open(&conn.client, namespace, name).await?;
    if store
        .state()
        .is_some_and(|s| s.phase != Phase::Initializing)
    {
        return Ok(store);
    }
    if matches!(mode, Mode::Run | Mode::Step(_)) && live.groups && !settings.images.is_empty() {
        release::check_images(exec, &settings.images).await?;
    }
    let wait = settings.timeout.unwrap_or(plan.progress_deadline);
    let done = exec.initialize(wait, who).await?;
    let first = done.starts_with("initialized");
    live.say(done);
    let store = StateStore::open(&conn.client, namespace, name).await?;
    if first && let Some(state) = store.state() {
        let alert = crate::rollout::manual::initialized_alert(exec.scope().plan);
        live.alert(alert, &state.clone());
    }
    Ok(store)
}

/// `promote`: the manual promotion, carried out; an outcome when there was nothing to promote.
async fn promote(
    exec: &mut Executor<'_>,
    store: &mut StateStore,
    live: &mut Live<'_>,
) -> Result<Option<Outcome>, Error> {
    let state = store.state().cloned().unwrap_or_default();
    let obs = exec.observe().await?;
    let Some(d) = crate::rollout::manual::promote(exec.scope().plan, &state, &obs) else {
        live.say(format!(
            "nothing to promote (phase {})",
            state.phase.kebab()
        ));
        return Ok(Some(outcome_of(state.phase)));
    };
    let before = state.history.last().cloned();
    let d = exec.commit_manual(store, d, state.canary_weight).await?;
    live.notes(&d);
    live.ticked(&d.state, before.as_ref()).await;
    Ok(None)
}

/// `run` and `step`: the `apply` files, then the `image` inputs (with several canaries an image
/// goes to the targets that have its container).
async fn apply_release(
    settings: &Settings,
    exec: &Executor<'_>,
    live: &mut Live<'_>,
) -> Result<(), Error> {
    if !settings.apply.is_empty() {
        for line in release::apply_files(settings, exec, &settings.apply).await? {
            live.say(line);
        }
    }
    if !settings.images.is_empty() {
        release::set_images(exec, &settings.images, live.groups).await?;
    }
    Ok(())
}

/// The ticks until the rollout ends, a signal or `--fail-fast` cancels it (traffic back to the
/// primary), or `--timeout` runs out.
async fn ticks(
    settings: &Settings,
    conn: &Connection,
    exec: &mut Executor<'_>,
    store: &mut StateStore,
    mode: &Mode,
    live: &mut Live<'_>,
) -> Result<Outcome, Error> {
    let (namespace, name) = (exec.scope().namespace, exec.scope().plan.name.clone());
    let deadline = live.deadline;
    let mut stop = live.stop.clone();
    let ended = {
        let driving = drive(exec, store, mode, live);
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
        *store = StateStore::open(&conn.client, namespace, &name).await?;
    }
    let (why, verdict) = match ended {
        End::Done(r) => return r,
        End::Cancelled(why) => (why, Verdict::Cancelled),
        End::TimedOut => ("timed out (--timeout)", Verdict::TimedOut),
    };
    let d = exec.abort(store, why).await?;
    d.iter().for_each(|d| live.notes(d));
    let timed_out = verdict == Verdict::TimedOut;
    after_abort(live, store, verdict).await;
    if !timed_out {
        return Ok(Outcome::Failed);
    }
    Err(Error::Infra(format!(
        "{namespace}/{name}: timed out after {}",
        format_duration(settings.timeout.unwrap_or_default())
    )))
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

/// Resolves at `deadline`, or never without one.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGINT or SIGTERM (the runner sends SIGINT, then SIGTERM 7.5 s later).
pub async fn shutdown_signal() {
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
        let routes = Routes::canary_takes(weight);
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
