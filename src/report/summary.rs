//! The runner's files: the job summary (`$GITHUB_STEP_SUMMARY`, Markdown, at most 1 MiB per
//! step), the step outputs (`$GITHUB_OUTPUT`, every value in a `name<<delimiter` block so any
//! value may span lines) and the JSON report file.
//!
//! Owns those three files. Appends one section per finished report; writes outputs and the JSON
//! report once, when the command ends.

use super::{Event, Report, Sink, SinkFuture, markdown};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The runner's limit on one step's summary.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// Job summary, outputs and the JSON report.
#[derive(Debug, Default)]
pub struct Files {
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
    /// `$GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
    /// The JSON report: where to write it and how the `report` output names it.
    pub report: Option<(PathBuf, String)>,
    written: usize,
    finished: Vec<Report>,
}

impl Files {
    /// A sink writing to whichever of the files are set.
    pub fn new(
        step_summary: Option<PathBuf>,
        output: Option<PathBuf>,
        report: Option<(PathBuf, String)>,
    ) -> Files {
        Files {
            step_summary,
            output,
            report,
            ..Files::default()
        }
    }

    fn append_summary(&mut self, section: &str) -> Result<(), String> {
        let Some(path) = &self.step_summary else {
            return Ok(());
        };
        let room = STEP_SUMMARY_LIMIT.saturating_sub(self.written);
        if room < 256 {
            return Ok(());
        }
        let text = markdown::truncate(&format!("{section}\n"), room);
        append(path, &text)?;
        self.written += text.len();
        Ok(())
    }
}

impl Files {
    /// Handles one event (the work is synchronous: file appends).
    fn handle(&mut self, event: Event, report: &Report) -> Result<(), String> {
        if event != Event::Finished {
            return Ok(());
        }
        self.finished.push(report.clone());
        self.append_summary(&markdown::render(report))
    }

    /// Writes the JSON report and the step outputs (once, when the command ends).
    pub fn finish(&mut self) -> Result<(), String> {
        if let Some((path, _)) = &self.report {
            let doc = serde_json::json!({ "version": 1, "reports": self.finished });
            let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
            std::fs::write(path, text + "\n")
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut outputs = outputs(&self.finished);
        if let Some((_, shown)) = &self.report {
            outputs.push(("report", shown.clone()));
        }
        append(
            path,
            &render_outputs(&outputs, &uuid::Uuid::new_v4().simple().to_string()),
        )
    }
}

/// One [`Files`] shared by the reporters of canaries driven at once: each appends its section
/// when it finishes; the command writes the outputs and the report once, with [`SharedFiles::finish`].
#[derive(Clone)]
pub struct SharedFiles(Arc<Mutex<Files>>);

impl SharedFiles {
    /// Shares `files`.
    pub fn new(files: Files) -> SharedFiles {
        SharedFiles(Arc::new(Mutex::new(files)))
    }

    /// Writes the JSON report and the step outputs; a failure is one warning.
    pub fn finish(&self) {
        let done = match self.0.lock() {
            Ok(mut files) => files.finish(),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = done {
            eprintln!("canary-gate: warning: job summary: {why}");
        }
    }
}

impl Sink for SharedFiles {
    fn name(&self) -> &'static str {
        "job summary"
    }

    fn send<'a>(&'a mut self, event: Event, report: &'a mut Report) -> SinkFuture<'a> {
        let result = match self.0.lock() {
            Ok(mut files) => files.handle(event, report),
            Err(e) => Err(e.to_string()),
        };
        Box::pin(async move { result })
    }
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn rank(r: &Report) -> u8 {
    match r.verdict.as_ref().map(|v| v.conclusion()) {
        Some("failure") => 5,
        Some("timed_out") => 4,
        Some("cancelled") => 3,
        Some("action_required") => 2,
        Some(_) => 1,
        None => 0,
    }
}

/// The step outputs: the worst report's phase, weight, failed checks and check run, and a
/// one-line verdict per report in `summary`.
pub fn outputs(reports: &[Report]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let worst = reports.iter().rev().max_by_key(|r| rank(r));
    if let Some(r) = worst {
        if let Some(p) = r.phase {
            out.push(("phase", p.kebab().to_string()));
            out.push(("canary-weight", r.weight.to_string()));
            out.push(("failed-checks", r.failed_checks.to_string()));
        }
        if let Some(v) = &r.verdict {
            out.push(("conclusion", v.conclusion().to_string()));
        }
        if let Some(u) = &r.check_run_url {
            out.push(("check-run-url", u.clone()));
        }
    }
    let lines: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r.subject,
                r.verdict.as_ref().map_or("in progress", |v| v.headline())
            )
        })
        .collect();
    out.push(("summary", lines.join("\n")));
    out
}

/// `name<<delim` / value / `delim` for each output (the multiline form works for every value).
pub fn render_outputs(outputs: &[(&str, String)], nonce: &str) -> String {
    let delim = format!("ghadelimiter_{nonce}");
    outputs
        .iter()
        .map(|(k, v)| format!("{k}<<{delim}\n{v}\n{delim}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;
    use crate::rollout::Phase;

    #[test]
    fn outputs_take_the_worst_report_and_every_line() {
        let mut a = Report::new("ns/a", "run");
        a.phase = Some(Phase::Succeeded);
        a.verdict = Some(Verdict::Promoted);
        let mut b = Report::new("ns/b", "run");
        b.phase = Some(Phase::Failed);
        b.weight = 0;
        b.failed_checks = 2;
        b.verdict = Some(Verdict::RolledBack);
        let out = outputs(&[a, b]);
        assert!(out.contains(&("phase", "failed".to_string())));
        assert!(out.contains(&("failed-checks", "2".to_string())));
        let text = render_outputs(&out, "x");
        assert!(
            text.contains(
                "summary<<ghadelimiter_x\nns/a: ✅ Promoted\nns/b: ❌ Rolled back\nghadelimiter_x\n"
            ),
            "{text}"
        );
    }
}
