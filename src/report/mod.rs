//! Telling people what happened: one [`Report`] per canary (or per `validate`/`plan` run), sent
//! to several [`Sink`]s: the console (and GitHub workflow commands), the job summary and step
//! outputs, a GitHub check run, and the canary's alert providers.
//!
//! Owns the report's shape and the fan-out. Must never change a decision: a sink that fails logs
//! one warning and the command carries on exactly as it would have without it.

pub mod console;
pub mod diff;
pub mod findings;
pub mod github;
pub mod markdown;
pub mod notify;
pub mod summary;

use crate::rollout::{Phase, StepRecord};
use crate::spec::Diagnostic;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

/// How a command ended for one report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "kebab-case")]
pub enum Verdict {
    /// The canary was promoted.
    Promoted,
    /// The canary was rolled back.
    RolledBack,
    /// The job was cancelled; traffic went back to the primary.
    Cancelled,
    /// `--timeout` ran out; traffic went back to the primary.
    TimedOut,
    /// The rollout is paused (a gate, or `step` stopped): how to continue.
    Paused(String),
    /// Nothing changed since the last promotion.
    NothingToDo,
    /// Specs are valid.
    Valid,
    /// Specs are invalid.
    Invalid,
    /// A plan was shown; nothing was written.
    Planned,
    /// The command failed (infrastructure): the error.
    Error(String),
}

impl Verdict {
    /// The check-run conclusion for this verdict.
    pub fn conclusion(&self) -> &'static str {
        match self {
            Verdict::Promoted | Verdict::NothingToDo | Verdict::Valid | Verdict::Planned => {
                "success"
            }
            Verdict::RolledBack | Verdict::Invalid | Verdict::Error(_) => "failure",
            Verdict::Cancelled => "cancelled",
            Verdict::TimedOut => "timed_out",
            Verdict::Paused(_) => "action_required",
        }
    }

    /// A mark and a few words: `✅ promoted`.
    pub fn headline(&self) -> &'static str {
        match self {
            Verdict::Promoted => "✅ Promoted",
            Verdict::RolledBack => "❌ Rolled back",
            Verdict::Cancelled => "⏹️ Cancelled, traffic back on the primary",
            Verdict::TimedOut => "⏱️ Timed out, traffic back on the primary",
            Verdict::Paused(_) => "⏸️ Paused",
            Verdict::NothingToDo => "✅ Nothing to do",
            Verdict::Valid => "✅ Valid",
            Verdict::Invalid => "❌ Invalid",
            Verdict::Planned => "📋 Plan",
            Verdict::Error(_) => "❌ Failed",
        }
    }
}

/// Everything a sink may show about one canary (or one `validate`/`plan` run).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `<namespace>/<name>`, or what the run was about (`validate`).
    pub subject: String,
    /// The command (`run`, `step`, `validate`, ...).
    pub command: String,
    /// The spec file, as the user named it.
    pub spec_file: Option<String>,
    /// Phase now.
    pub phase: Option<Phase>,
    /// Canary weight now.
    pub weight: u32,
    /// Failed checks in the current analysis.
    pub failed_checks: u32,
    /// Failed checks that roll back.
    pub threshold: u32,
    /// The analysis interval, in seconds.
    pub interval_seconds: f64,
    /// The last thing the state said.
    pub message: Option<String>,
    /// The ticks of this run that did something (the oldest first).
    pub steps: Vec<StepRecord>,
    /// Annotations: spec findings, failing checks and the verdict, each on a spec line.
    pub findings: Vec<Diagnostic>,
    /// Extra Markdown sections (a plan's diffs, say), shown after the steps.
    pub sections: Vec<Section>,
    /// How it ended; `None` while it runs.
    pub verdict: Option<Verdict>,
    /// When this run started (RFC 3339).
    pub started_at: String,
    /// The check run, once one exists.
    pub check_run_url: Option<String>,
    /// The workflow run.
    pub run_url: Option<String>,
    /// The target's revision (the hash the rollout compares).
    pub revision: Option<String>,
    /// The canary's set-up as alerts with details show it: `(title, value)`.
    pub setup: Vec<(String, String)>,
    /// The alerts this run raised, in order (the notifier sends the new ones).
    pub alerts: Vec<AlertRecord>,
}

/// One alert as raised, with where the canary stood.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    /// `info`, `warn` or `error`.
    #[serde(serialize_with = "severity_name")]
    pub severity: crate::spec::model::AlertSeverity,
    /// What happened.
    pub message: String,
    /// Whether it shows the canary's set-up.
    pub details: bool,
    /// The phase then.
    pub phase: Option<Phase>,
    /// The canary weight then.
    pub weight: u32,
}

fn severity_name<S: serde::Serializer>(
    s: &crate::spec::model::AlertSeverity,
    out: S,
) -> Result<S::Ok, S::Error> {
    use crate::spec::model::AlertSeverity as A;
    out.serialize_str(match s {
        A::Info => "info",
        A::Warn => "warn",
        A::Error => "error",
    })
}

/// A titled Markdown section.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// Markdown.
    pub body: String,
}

impl Report {
    /// A report that starts now.
    pub fn new(subject: impl Into<String>, command: &str) -> Report {
        Report {
            subject: subject.into(),
            command: command.to_string(),
            started_at: now(),
            ..Report::default()
        }
    }

    /// The check-run name: `canary-gate: <subject>`.
    pub fn check_name(&self) -> String {
        format!("canary-gate: {}", self.subject)
    }
}

/// Now, RFC 3339 in whole seconds (the form the Checks API takes).
pub fn now() -> String {
    let t = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// A URL fit to print: user, password and query values replaced by `***` (webhook and metrics
/// URLs may carry credentials there). Text that is not a URL is returned as is.
pub fn redact_url(text: &str) -> String {
    let Ok(mut u) = url::Url::parse(text) else {
        return text.to_string();
    };
    if !u.username().is_empty() {
        let _ = u.set_username("***");
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let keys: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let mut q = u.query_pairs_mut();
        q.clear();
        for k in keys {
            q.append_pair(&k, "***");
        }
    }
    u.to_string()
}

/// What a sink is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The report exists (before the first tick).
    Started,
    /// A tick happened.
    Ticked,
    /// The verdict is in.
    Finished,
}

/// A sink's future.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One place reports go.
pub trait Sink: Send {
    /// The name used in the one warning when the sink fails.
    fn name(&self) -> &'static str;
    /// Handles one event. The sink may fill in `check_run_url`.
    fn send<'a>(&'a mut self, event: Event, report: &'a mut Report) -> SinkFuture<'a>;
    /// One line of progress about `subject` (the console prints it; the other sinks show the
    /// steps instead).
    fn say(&mut self, _subject: &str, _line: &str) {}
    /// The lines of one tick start (`open`) or end: the console folds them in Actions.
    fn fold(&mut self, _subject: &str, _open: bool) {}
}

/// The sinks of one command, in order (the check run first, so the others can link to it).
pub struct Reporter {
    sinks: Vec<Box<dyn Sink>>,
    warned: Vec<&'static str>,
}

impl Reporter {
    /// A reporter over these sinks.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Reporter {
        Reporter {
            sinks,
            warned: Vec::new(),
        }
    }

    /// The runner's files (job summary, outputs, JSON report) the settings name, if any.
    pub fn files_for(settings: &crate::settings::Settings) -> Option<summary::Files> {
        let gh = &settings.github;
        let report = settings
            .report
            .as_ref()
            .map(|p| (p.path.clone(), p.shown.clone()));
        (gh.step_summary.is_some() || gh.output.is_some() || report.is_some())
            .then(|| summary::Files::new(gh.step_summary.clone(), gh.output.clone(), report))
    }

    /// The sinks of one canary of `fleet`: its own check run (paced to its share of the token's
    /// budget, on the fleet's client), the shared runner files and the console. The command
    /// finishes the shared files itself.
    pub fn for_canary(
        settings: &crate::settings::Settings,
        fleet: &github::Fleet,
        budget: std::time::Duration,
        with_console: bool,
        files: Option<summary::SharedFiles>,
    ) -> Reporter {
        let gh = &settings.github;
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if settings.github_token.is_some() || gh.is_actions() {
            match github::CheckRuns::new(gh, settings.github_token.as_ref(), budget, fleet) {
                Ok(c) => sinks.push(Box::new(c)),
                Err(why) => {
                    if fleet.first_warning() {
                        eprintln!("canary-gate: warning: {why}; reporting without a check run");
                    }
                }
            }
        }
        if let Some(f) = files {
            sinks.push(Box::new(f));
        }
        if with_console {
            sinks.push(Box::new(console::Console {
                actions: gh.is_actions(),
            }));
        }
        Reporter::new(sinks)
    }

    /// Adds a sink after the others (the notifier, once its providers are resolved).
    pub fn add(&mut self, sink: Box<dyn Sink>) {
        self.sinks.push(sink);
    }

    /// Whether there is no sink at all.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// The console alone: for a command whose only report is its progress (`init`).
    pub fn console(settings: &crate::settings::Settings) -> Reporter {
        let actions = settings.github.is_actions();
        Reporter::new(vec![Box::new(console::Console { actions })])
    }

    /// One line of progress about the report's subject: `<subject>: <line>` on the console.
    pub fn say(&mut self, report: &Report, line: impl AsRef<str>) {
        for sink in &mut self.sinks {
            sink.say(&report.subject, line.as_ref());
        }
    }

    /// Opens (`open`) or closes the fold of one tick's lines.
    pub fn fold(&mut self, report: &Report, open: bool) {
        for sink in &mut self.sinks {
            sink.fold(&report.subject, open);
        }
    }

    /// Sends an event to every sink; a failing sink warns once per command.
    pub async fn send(&mut self, event: Event, report: &mut Report) {
        for sink in &mut self.sinks {
            if let Err(why) = sink.send(event, report).await {
                warn_once(&mut self.warned, sink.name(), &why);
            }
        }
    }
}

fn warn_once(warned: &mut Vec<&'static str>, name: &'static str, why: &str) {
    if !warned.contains(&name) {
        warned.push(name);
        eprintln!("canary-gate: warning: {name}: {why}; the rollout carries on without it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(u32);
    impl Sink for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn send<'a>(&'a mut self, _: Event, r: &'a mut Report) -> SinkFuture<'a> {
            self.0 += 1;
            r.weight += 1;
            Box::pin(async { Err("down".to_string()) })
        }
    }

    #[tokio::test]
    async fn a_failing_sink_does_not_stop_the_others() {
        let mut reporter = Reporter::new(vec![Box::new(Failing(0)), Box::new(Failing(0))]);
        let mut r = Report::new("ns/a", "run");
        reporter.send(Event::Started, &mut r).await;
        reporter.send(Event::Ticked, &mut r).await;
        assert_eq!(r.weight, 4);
        assert_eq!(reporter.warned, vec!["failing"]);
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://bob:hunter2@hooks.example/x?token=abc&a=1"),
            "https://***:***@hooks.example/x?token=***&a=***"
        );
        assert_eq!(redact_url("http://h:9090/"), "http://h:9090/");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn conclusions() {
        assert_eq!(Verdict::Promoted.conclusion(), "success");
        assert_eq!(Verdict::RolledBack.conclusion(), "failure");
        assert_eq!(Verdict::Paused("x".into()).conclusion(), "action_required");
        assert_eq!(Verdict::TimedOut.conclusion(), "timed_out");
    }
}
