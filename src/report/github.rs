//! Check runs (octocrab): one per report, named `canary-gate: <subject>`, on the pull request's
//! head SHA (from the event payload) or `GITHUB_SHA`; created `in_progress`, updated at most once
//! per tick (skipped when nothing changed, and paced by [`Pace`] so a job with many canaries stays
//! inside a `GITHUB_TOKEN`'s hourly budget), completed with the verdict's conclusion and the
//! findings as annotations, at most 50 per request.
//!
//! Owns the Checks API bodies (pure functions, contract-tested against GitHub's schema) and the
//! retry policy: 5xx, 429 and rate limits back off within the tick budget, then that update is
//! skipped; 401/403 (a fork's read-only token) switches the sink off. The creation and the
//! completion cannot be replaced by a later request, so once sent they wait for GitHub's answer
//! (up to [`ANSWER_PATIENCE`]) however short the tick budget. Never decides anything.

use super::markdown::{self, CHECK_SUMMARY_LIMIT};
use super::{Event, Report, Sink, SinkFuture};
use crate::settings::{GithubContext, Secret};
use crate::spec::{Diagnostic, Severity};
use backon::{BackoffBuilder, ExponentialBuilder};
use serde_json::{Value, json};
use std::time::Duration;

/// Annotations per Checks API request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// How long a sent creation or completion waits for its answer: the client's connect (5 s) and
/// read (10 s) timeouts. Cutting it at a 1 s tick budget loses the check run on a slow answer.
pub const ANSWER_PATIENCE: Duration = Duration::from_secs(15);

/// Requests per hour a `GITHUB_TOKEN` may make in one repository.
pub const HOURLY_BUDGET: u32 = 1000;
/// The part of [`HOURLY_BUDGET`] all of a job's check-run updates may use; the rest covers each
/// canary's creation and completion (one request each, two past 50 annotations) and leaves room.
pub const UPDATES_PER_HOUR: f64 = 600.0;
/// Updates a job's canaries may send together before the hourly rate applies.
pub const UPDATE_BURST: f64 = 100.0;

/// Paces one check run's updates: a token bucket holding its share of [`UPDATE_BURST`] (at least
/// one), refilled at its share of [`UPDATES_PER_HOUR`]. With `n` canaries a job sends at most
/// `n × share + 600` updates in its first hour and 600 in any later one. An update that finds
/// the bucket empty is skipped; the next tick's (or the completion) carries the change.
#[derive(Clone, Debug)]
pub struct Pace {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    at: Option<std::time::Instant>,
}

impl Pace {
    /// The share of one canary among `canaries`.
    pub fn share(canaries: usize) -> Pace {
        let n = canaries.max(1) as f64;
        let capacity = (UPDATE_BURST / n).floor().max(1.0);
        Pace {
            tokens: capacity,
            capacity,
            per_second: UPDATES_PER_HOUR / n / 3600.0,
            at: None,
        }
    }

    /// Whether an update may go out at `now` (and takes its token if so).
    pub fn take(&mut self, now: std::time::Instant) -> bool {
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.capacity);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The commit check runs go on: the PR head for pull-request events, else `GITHUB_SHA`.
pub fn head_sha(gh: &GithubContext) -> Option<String> {
    let pr_event = gh
        .event_name
        .as_deref()
        .is_some_and(|e| e.starts_with("pull_request"));
    if pr_event && let Some(path) = &gh.event_path {
        let sha = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["pull_request"]["head"]["sha"].as_str().map(String::from));
        if sha.is_some() {
            return sha;
        }
    }
    gh.sha.clone()
}

/// The body that creates a check run.
pub fn create_body(r: &Report, sha: &str, details_url: Option<&str>) -> Value {
    let mut body = json!({
        "name": r.check_name(),
        "head_sha": sha,
        "status": "in_progress",
        "started_at": r.started_at,
        "external_id": r.subject,
        "output": output(r, &[]),
    });
    if let Some(u) = details_url {
        body["details_url"] = json!(u);
    }
    body
}

/// The body of a progress update.
pub fn update_body(r: &Report) -> Value {
    json!({ "status": "in_progress", "output": output(r, &[]) })
}

/// The bodies that complete a check run: the conclusion with the first 50 annotations, then one
/// update per further 50.
pub fn completion_bodies(r: &Report, completed_at: &str) -> Vec<Value> {
    let conclusion = r.verdict.as_ref().map_or("neutral", |v| v.conclusion());
    let annotations: Vec<Value> = r.findings.iter().map(annotation).collect();
    let mut chunks = annotations.chunks(ANNOTATIONS_PER_REQUEST);
    let mut bodies = vec![json!({
        "status": "completed",
        "conclusion": conclusion,
        "completed_at": completed_at,
        "output": output(r, chunks.next().unwrap_or_default()),
    })];
    bodies.extend(chunks.map(|c| json!({ "output": output(r, c) })));
    bodies
}

fn output(r: &Report, annotations: &[Value]) -> Value {
    let mut out = json!({
        "title": markdown::title(r),
        "summary": markdown::truncate(&markdown::render(r), CHECK_SUMMARY_LIMIT),
    });
    if !annotations.is_empty() {
        out["annotations"] = json!(annotations);
    }
    out
}

/// One annotation for a finding.
pub fn annotation(d: &Diagnostic) -> Value {
    let level = match d.severity {
        Severity::Error => "failure",
        Severity::Warning => "warning",
        Severity::Notice => "notice",
    };
    json!({
        "path": d.file,
        "start_line": d.line,
        "end_line": d.line,
        "start_column": d.column,
        "end_column": d.column,
        "annotation_level": level,
        "title": d.title().chars().take(255).collect::<String>(),
        "message": d.message,
    })
}

#[derive(Debug)]
enum Failure {
    /// Worth retrying (5xx, 429, rate limit, network).
    Transient(String),
    /// Not allowed: the token cannot write checks.
    Forbidden(String),
    /// Refused (422 and friends).
    Rejected(String),
}

impl Failure {
    fn text(&self) -> &str {
        match self {
            Failure::Transient(s) | Failure::Forbidden(s) | Failure::Rejected(s) => s,
        }
    }
}

/// What the check runs of one command share: the number of canaries (each paces its updates to
/// its share of the budget) and one GitHub client with its connection pool, built on first use.
#[derive(Clone, Default)]
pub struct Fleet {
    canaries: usize,
    client: std::sync::Arc<std::sync::Mutex<Option<octocrab::Octocrab>>>,
    /// Whether the command already warned that it reports without check runs (once is enough).
    warned: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Fleet {
    /// The check runs of `canaries` canaries.
    pub fn new(canaries: usize) -> Fleet {
        Fleet {
            canaries,
            client: Default::default(),
            warned: Default::default(),
        }
    }

    /// True the first time it is asked: whether to warn about missing check runs now.
    pub fn first_warning(&self) -> bool {
        !self.warned.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

/// The check-run sink.
pub struct CheckRuns {
    api: std::sync::Arc<std::sync::Mutex<Option<octocrab::Octocrab>>>,
    base: String,
    token: Secret,
    repo: String,
    sha: String,
    details_url: Option<String>,
    budget: Duration,
    id: Option<u64>,
    off: bool,
    last_output: Option<String>,
    pace: Pace,
}

impl CheckRuns {
    /// A sink for the context, or why there is none (no token, repository or commit).
    pub fn new(
        gh: &GithubContext,
        token: Option<&Secret>,
        budget: Duration,
        fleet: &Fleet,
    ) -> Result<CheckRuns, String> {
        let token = token.ok_or("no github-token input, so no check run")?;
        let repo = gh
            .repository
            .clone()
            .ok_or("GITHUB_REPOSITORY is not set, so no check run")?;
        let sha = head_sha(gh).ok_or("GITHUB_SHA is not set, so no check run")?;
        let base = gh
            .api_url
            .clone()
            .unwrap_or_else(|| "https://api.github.com".into());
        Ok(CheckRuns {
            api: fleet.client.clone(),
            base,
            token: token.clone(),
            repo,
            sha,
            details_url: gh.run_url(),
            budget,
            id: None,
            off: false,
            last_output: None,
            pace: Pace::share(fleet.canaries),
        })
    }

    /// The client, built on first use (it needs the runtime).
    fn api(&mut self) -> Result<octocrab::Octocrab, Failure> {
        let mut shared = self
            .api
            .lock()
            .map_err(|_| Failure::Rejected("GitHub client: poisoned".into()))?;
        if let Some(api) = shared.as_ref() {
            return Ok(api.clone());
        }
        let api = octocrab::Octocrab::builder()
            .base_uri(self.base.as_str())
            .map_err(|e| Failure::Rejected(format!("GITHUB_API_URL {:?}: {e}", self.base)))?
            .personal_token(self.token.expose().to_string())
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(5)))
            .set_read_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| Failure::Rejected(format!("GitHub client: {e}")))?;
        *shared = Some(api.clone());
        Ok(api)
    }

    /// One request; transient failures retried with backoff until the budget is spent. A
    /// `patient` request (one no later request replaces) also waits for the answer to an attempt
    /// already sent for up to [`ANSWER_PATIENCE`], past the budget.
    async fn call(&mut self, patch: bool, body: &Value, patient: bool) -> Result<Value, Failure> {
        let api = self.api()?;
        let route = match self.id {
            Some(id) if patch => format!("/repos/{}/check-runs/{id}", self.repo),
            _ => format!("/repos/{}/check-runs", self.repo),
        };
        let started = tokio::time::Instant::now();
        let deadline = started + self.budget;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(5)
            .build();
        let mut last = None;
        loop {
            let once = async {
                let sent = if patch {
                    api.patch::<Value, _, _>(&route, Some(body)).await
                } else {
                    api.post::<_, Value>(&route, Some(body)).await
                };
                sent.map_err(classify)
            };
            let answer_by = if patient {
                deadline.max(tokio::time::Instant::now() + ANSWER_PATIENCE)
            } else {
                deadline
            };
            let failure = match tokio::time::timeout_at(answer_by, once).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(f)) => f,
                Err(_) => {
                    return Err(last.unwrap_or_else(|| {
                        Failure::Transient(format!(
                            "no answer within {:.1}s",
                            (answer_by - started).as_secs_f64()
                        ))
                    }));
                }
            };
            if !matches!(failure, Failure::Transient(_)) {
                return Err(failure);
            }
            match delays.next() {
                Some(d) if tokio::time::Instant::now() + d < deadline => {
                    tracing::debug!("GitHub: {}; retrying in {d:?}", failure.text());
                    last = Some(failure);
                    tokio::time::sleep(d).await;
                }
                _ => return Err(failure),
            }
        }
    }

    async fn create(&mut self, r: &mut Report) -> Result<(), String> {
        let body = create_body(r, &self.sha, self.details_url.as_deref());
        match self.call(false, &body, true).await {
            Ok(v) => {
                self.id = v["id"].as_u64();
                r.check_run_url = v["html_url"].as_str().map(String::from);
                self.last_output = Some(body["output"].to_string());
                if self.id.is_none() {
                    self.off = true;
                    return Err("creating the check run: the answer has no id".into());
                }
                Ok(())
            }
            Err(f) => {
                // Without a check run there is nothing to update: stop trying.
                self.off = true;
                Err(format!("creating the check run: {}", f.text()))
            }
        }
    }

    async fn update(&mut self, r: &Report) -> Result<(), String> {
        let body = update_body(r);
        let out = body["output"].to_string();
        if self.last_output.as_deref() == Some(out.as_str())
            || !self.pace.take(std::time::Instant::now())
        {
            return Ok(());
        }
        self.send_patch(&body, false).await?;
        self.last_output = Some(out);
        Ok(())
    }

    async fn complete(&mut self, r: &mut Report) -> Result<(), String> {
        // No tick waits on the last update: give it time, or the run stays in progress.
        self.budget = self.budget.max(Duration::from_secs(15));
        let bodies = completion_bodies(r, &super::now());
        if self.id.is_none() {
            // Nothing created yet (validate, plan): create it completed, in one request.
            let mut first = create_body(r, &self.sha, self.details_url.as_deref());
            if let (Some(f), Some(b)) = (first.as_object_mut(), bodies[0].as_object()) {
                f.extend(b.clone());
            }
            let v = self.call(false, &first, true).await.map_err(|f| {
                self.off = true;
                format!("creating the check run: {}", f.text())
            })?;
            self.id = v["id"].as_u64();
            r.check_run_url = v["html_url"].as_str().map(String::from);
        } else {
            self.send_patch(&bodies[0], true).await?;
        }
        for b in &bodies[1..] {
            self.send_patch(b, true).await?;
        }
        Ok(())
    }

    async fn send_patch(&mut self, body: &Value, patient: bool) -> Result<(), String> {
        match self.call(true, body, patient).await {
            Ok(_) => Ok(()),
            Err(Failure::Forbidden(why)) => {
                self.off = true;
                Err(format!("updating the check run: {why}"))
            }
            Err(f) => Err(format!("updating the check run (skipped): {}", f.text())),
        }
    }
}

fn classify(e: octocrab::Error) -> Failure {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let text = format!("GitHub answered {status}: {}", source.message);
            let rate_limited = source.message.to_lowercase().contains("rate limit");
            match status {
                429 => Failure::Transient(text),
                403 if rate_limited => Failure::Transient(text),
                401 | 403 => Failure::Forbidden(format!(
                    "{text} (the token cannot write checks: pull requests from forks get a read-only token; grant `checks: write`)"
                )),
                500.. => Failure::Transient(text),
                _ => Failure::Rejected(text),
            }
        }
        other => Failure::Transient(format!("GitHub is unreachable: {}", one_line(&other))),
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

impl Sink for CheckRuns {
    fn name(&self) -> &'static str {
        "check run"
    }

    fn send<'a>(&'a mut self, event: Event, report: &'a mut Report) -> SinkFuture<'a> {
        Box::pin(async move {
            if self.off {
                return Ok(());
            }
            match event {
                Event::Started => self.create(report).await,
                Event::Ticked if self.id.is_some() => self.update(report).await,
                Event::Ticked => Ok(()),
                Event::Finished => self.complete(report).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn one_canary_may_update_every_tick_of_a_short_rollout() {
        let mut pace = Pace::share(1);
        let t0 = Instant::now();
        assert!((0..100).all(|i| pace.take(t0 + Duration::from_millis(i))));
        assert!(!pace.take(t0 + Duration::from_millis(100)), "burst spent");
        // 600 an hour: one token every 6 s.
        assert!(pace.take(t0 + Duration::from_secs(7)));
        assert!(!pace.take(t0 + Duration::from_secs(8)));
    }

    #[test]
    fn a_hundred_canaries_stay_inside_the_hourly_budget() {
        let n = 100;
        let mut paces: Vec<Pace> = (0..n).map(|_| Pace::share(n)).collect();
        let t0 = Instant::now();
        let mut updates = 0u32;
        // Every canary ticks every 10 s for an hour, each at its own offset.
        for tick in 0..360u64 {
            for (i, p) in paces.iter_mut().enumerate() {
                let at = t0 + Duration::from_millis(tick * 10_000 + i as u64 * 97);
                updates += u32::from(p.take(at));
            }
        }
        let creations_and_completions = 2 * n as u32;
        assert!(updates <= 700, "{updates}");
        assert!(updates + creations_and_completions <= HOURLY_BUDGET);
        // Fair: every canary got updates in, not just the first few.
        assert!(paces.iter().all(|p| p.at.is_some()));
        let mut one = Pace::share(n);
        let counted = (0..360u64)
            .filter(|t| one.take(t0 + Duration::from_secs(t * 10)))
            .count();
        assert!(
            (6..=8).contains(&counted),
            "one canary's updates: {counted}"
        );
    }
    use crate::report::Verdict;
    use crate::spec::path::FieldPath;
    use crate::spec::yaml::Pos;

    #[test]
    fn a_pull_request_uses_its_head_sha() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request":{"head":{"sha":"abc123"}}}"#).unwrap();
        let mut gh = GithubContext {
            sha: Some("merge456".into()),
            event_name: Some("pull_request".into()),
            event_path: Some(event),
            ..GithubContext::default()
        };
        assert_eq!(head_sha(&gh).as_deref(), Some("abc123"));
        gh.event_name = Some("push".into());
        assert_eq!(head_sha(&gh).as_deref(), Some("merge456"));
    }

    #[test]
    fn annotations_go_fifty_per_request() {
        let mut r = Report::new("validate", "validate");
        r.verdict = Some(Verdict::Invalid);
        let d = Diagnostic::new(
            Severity::Error,
            "c.yaml",
            Pos { line: 3, col: 2 },
            FieldPath::of(&["spec"]),
            "bad",
        );
        r.findings = vec![d; 120];
        let bodies = completion_bodies(&r, "2026-11-25T12:00:00Z");
        let sizes: Vec<usize> = bodies
            .iter()
            .map(|b| b["output"]["annotations"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        assert_eq!(bodies[0]["conclusion"], "failure");
        assert_eq!(
            bodies[0]["output"]["annotations"][0]["annotation_level"],
            "failure"
        );
    }
}
