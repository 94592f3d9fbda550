//! Markdown for people: the job summary section and the check-run summary of one [`Report`].
//!
//! Pure: a report in, GitHub-flavoured Markdown out. The verdict comes first, then one line of
//! facts, the findings, the per-step table and a chart; the log is one click away in `<details>`.

use super::{Report, Verdict};
use crate::rollout::StepRecord;
use crate::spec::Severity;
use k8s_openapi::jiff::Timestamp;
use std::fmt::Write;

/// The Checks API's limit on `output.summary` and `output.text`.
pub const CHECK_SUMMARY_LIMIT: usize = 65_535;

/// The check-run title: the verdict and the subject in a few words.
pub fn title(r: &Report) -> String {
    match &r.verdict {
        None => format!(
            "{} at {}% canary weight, {} failed checks",
            r.phase.map_or("starting", |p| p.kebab()),
            r.weight,
            r.failed_checks
        ),
        Some(Verdict::RolledBack) => {
            let why = r
                .steps
                .iter()
                .rev()
                .flat_map(|s| s.metrics.iter())
                .find_map(|m| m.reason.clone())
                .or_else(|| {
                    r.steps
                        .iter()
                        .rev()
                        .flat_map(|s| s.hooks.iter())
                        .find_map(|h| h.reason.clone())
                });
            let max = r.steps.iter().map(|s| s.weight).max().unwrap_or(0);
            match why {
                Some(w) => format!("Rolled back at {max}%: {}", one_line(&w)),
                None => format!("Rolled back at {max}%"),
            }
        }
        Some(v) => strip_mark(v.headline()).to_string(),
    }
}

fn strip_mark(s: &str) -> &str {
    s.split_once(' ').map_or(s, |(_, rest)| rest)
}

/// The whole section for one report.
pub fn render(r: &Report) -> String {
    let mut md = String::new();
    let head = r
        .verdict
        .as_ref()
        .map_or("🔄 In progress", Verdict::headline);
    let _ = writeln!(md, "### {head}: `{}`\n", r.subject);
    if let Some(Verdict::Paused(how) | Verdict::Error(how)) = &r.verdict {
        let _ = writeln!(md, "> {}\n", one_line(how));
    }
    let _ = writeln!(md, "{}\n", facts(r));
    if let Some(m) = &r.message {
        let _ = writeln!(md, "_{}_\n", one_line(m));
    }
    if !r.findings.is_empty() {
        for d in &r.findings {
            let mark = match d.severity {
                Severity::Error => "❌",
                Severity::Warning => "⚠️",
                Severity::Notice => "ℹ️",
            };
            let _ = writeln!(
                md,
                "- {mark} `{}:{}` {}",
                d.file,
                d.line,
                one_line(&d.text())
            );
        }
        md.push('\n');
    }
    if !r.steps.is_empty() {
        md.push_str(&table(r));
        md.push('\n');
        md.push_str(&chart(&r.steps));
        md.push('\n');
        md.push_str(&log(r));
    }
    for s in &r.sections {
        let _ = writeln!(md, "#### {}\n\n{}\n", s.title, s.body.trim_end());
    }
    md
}

fn facts(r: &Report) -> String {
    let mut parts = Vec::new();
    if let Some(file) = &r.spec_file {
        parts.push(format!("`{file}`"));
    }
    if r.phase.is_some() {
        let max = r.steps.iter().map(|s| s.weight).max().unwrap_or(r.weight);
        parts.push(format!(
            "**{}** steps, canary weight up to **{max}%**, now **{}%**",
            r.steps.len(),
            r.weight
        ));
        let failed = r
            .steps
            .iter()
            .map(|s| s.failed_checks)
            .max()
            .unwrap_or(0)
            .max(r.failed_checks);
        parts.push(format!("**{failed}**/{} failed checks", r.threshold));
    }
    if let Some(d) = elapsed(r) {
        parts.push(d);
    }
    if let Some(u) = &r.check_run_url {
        parts.push(format!("[check run]({u})"));
    }
    if let Some(u) = &r.run_url {
        parts.push(format!("[workflow run]({u})"));
    }
    parts.join(" · ")
}

fn elapsed(r: &Report) -> Option<String> {
    let start: Timestamp = r.started_at.parse().ok()?;
    let end: Timestamp = r.steps.last()?.at.parse().ok()?;
    let secs = end.as_second().saturating_sub(start.as_second()).max(0);
    Some(clock(secs))
}

fn clock(secs: i64) -> String {
    if secs >= 3600 {
        format!("{}h{:02}m{:02}s", secs / 3600, secs % 3600 / 60, secs % 60)
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

fn since(r: &Report, at: &str) -> String {
    match (r.started_at.parse::<Timestamp>(), at.parse::<Timestamp>()) {
        (Ok(a), Ok(b)) => format!("+{}", clock((b.as_second() - a.as_second()).max(0))),
        _ => at.to_string(),
    }
}

/// Metric names in first-seen order, with the range of the first record.
fn metric_columns(steps: &[StepRecord]) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = Vec::new();
    for m in steps.iter().flat_map(|s| s.metrics.iter()) {
        if cols.iter().any(|(n, _)| *n == m.name) {
            continue;
        }
        let range = match (m.min, m.max) {
            (Some(a), Some(b)) => format!("{}–{}", num(a), num(b)),
            (Some(a), None) => format!("≥ {}", num(a)),
            (None, Some(b)) => format!("≤ {}", num(b)),
            (None, None) => String::new(),
        };
        cols.push((m.name.clone(), range));
    }
    cols
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn table(r: &Report) -> String {
    let cols = metric_columns(&r.steps);
    let mut md = String::from("| # | time | phase | weight |");
    for (name, range) in &cols {
        let _ = write!(md, " {name} {range} |");
    }
    md.push_str(" gates |\n|---:|---|---|---:|");
    for _ in &cols {
        md.push_str("---:|");
    }
    md.push_str("---|\n");
    for (i, s) in r.steps.iter().enumerate() {
        let _ = write!(
            md,
            "| {} | {} | {} | {}% |",
            i + 1,
            since(r, &s.at),
            s.phase.kebab(),
            s.weight
        );
        for (name, _) in &cols {
            let cell = s
                .metrics
                .iter()
                .find(|m| m.name == *name)
                .map_or_else(String::new, |m| match (m.value, m.passed) {
                    (Some(v), true) => format!("{} ✅", num(v)),
                    (Some(v), false) => format!("**{}** ❌", num(v)),
                    (None, _) => "no data ❌".to_string(),
                });
            let _ = write!(md, " {cell} |");
        }
        let gates: Vec<String> = s
            .hooks
            .iter()
            .map(|h| format!("{} {}", h.name, if h.passed { "✅" } else { "⛔" }))
            .collect();
        let _ = writeln!(md, " {} |", cell(&gates.join(", ")));
    }
    md
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn sparkline(values: &[Option<f64>], lo: f64, hi: f64) -> String {
    values
        .iter()
        .map(|v| match v {
            None => '·',
            Some(v) if hi <= lo => SPARKS[if *v > 0.0 { 7 } else { 0 }],
            Some(v) => {
                let i = ((v - lo) / (hi - lo) * 7.0).round().clamp(0.0, 7.0);
                SPARKS[i as usize]
            }
        })
        .collect()
}

/// Weight and each metric over the steps, one sparkline each.
pub fn chart(steps: &[StepRecord]) -> String {
    let cols = metric_columns(steps);
    let width = cols
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        .max("canary weight".len());
    let mut out = String::from("```text\n");
    let weights: Vec<Option<f64>> = steps.iter().map(|s| Some(f64::from(s.weight))).collect();
    let _ = writeln!(
        out,
        "{:<width$}  {}  0–100%, last {}%",
        "canary weight",
        sparkline(&weights, 0.0, 100.0),
        steps.last().map_or(0, |s| s.weight)
    );
    for (name, range) in &cols {
        let values: Vec<Option<f64>> = steps
            .iter()
            .map(|s| {
                s.metrics
                    .iter()
                    .find(|m| m.name == *name)
                    .and_then(|m| m.value)
            })
            .collect();
        let known: Vec<f64> = values.iter().flatten().copied().collect();
        let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let span = if known.is_empty() {
            "no data".to_string()
        } else {
            format!("{}–{}", num(lo), num(hi))
        };
        let _ = writeln!(
            out,
            "{name:<width$}  {}  {span}{}",
            sparkline(&values, lo, hi),
            if range.is_empty() {
                String::new()
            } else {
                format!(" (pass {range})")
            }
        );
    }
    out.push_str("```\n");
    out
}

fn log(r: &Report) -> String {
    let mut md = String::from("<details><summary>Step log</summary>\n\n");
    for (i, s) in r.steps.iter().enumerate() {
        for n in &s.notes {
            let _ = writeln!(md, "- {} ({}) {}", i + 1, since(r, &s.at), one_line(n));
        }
    }
    md.push_str("\n</details>\n");
    md
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// `md` cut to at most `limit` bytes (whole characters), with a note saying so.
pub fn truncate(md: &str, limit: usize) -> String {
    if md.len() <= limit {
        return md.to_string();
    }
    let note = |cut: usize| {
        format!(
            "\n\n---\n_Truncated: {cut} more characters did not fit GitHub's limit; the job summary and the JSON report have everything._\n"
        )
    };
    let reserve = note(md.len()).len();
    let mut end = limit.saturating_sub(reserve);
    while !md.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = md[..end].to_string();
    out.push_str(&note(md.len() - end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{MetricRecord, Phase};

    fn report(n: usize) -> Report {
        let mut r = Report::new("test/podinfo", "run");
        r.started_at = "2026-11-25T12:00:00Z".into();
        r.phase = Some(Phase::Failed);
        r.threshold = 2;
        r.steps = (0..n)
            .map(|i| StepRecord {
                at: format!("2026-11-25T12:0{i}:30Z"),
                phase: Phase::Progressing,
                weight: 10 * (i as u32 + 1),
                metrics: vec![MetricRecord {
                    name: "request-success-rate".into(),
                    value: Some(100.0 - 10.0 * i as f64),
                    min: Some(99.0),
                    passed: i == 0,
                    ..MetricRecord::default()
                }],
                ..StepRecord::default()
            })
            .collect();
        r.verdict = Some(Verdict::RolledBack);
        r
    }

    #[test]
    fn verdict_first_then_the_table_and_chart() {
        let md = render(&report(3));
        assert!(md.starts_with("### ❌ Rolled back: `test/podinfo`"), "{md}");
        assert!(md.contains("| # | time | phase | weight | request-success-rate ≥ 99 | gates |"));
        assert!(
            md.contains("| 2 | +1m30s | progressing | 20% | **90** ❌ |  |"),
            "{md}"
        );
        assert!(
            md.contains("canary weight         ▂▂▃  0–100%, last 30%"),
            "{md}"
        );
        assert!(
            md.contains("request-success-rate  █▅▁  80–100 (pass ≥ 99)"),
            "{md}"
        );
        assert!(
            md.contains("**3** steps, canary weight up to **30%**"),
            "{md}"
        );
        assert_eq!(title(&report(3)), "Rolled back at 30%");
        assert!(md.contains("2m30s"), "{md}");
    }

    #[test]
    fn truncation_stays_under_the_limit_and_says_so() {
        let big = "é".repeat(40_000);
        let out = truncate(&big, CHECK_SUMMARY_LIMIT);
        assert!(out.len() <= CHECK_SUMMARY_LIMIT);
        assert!(out.contains("_Truncated: "));
        assert_eq!(truncate("short", 10), "short");
    }
}
