//! `canary-gate validate`: read specs offline, print every finding, exit 2 on any error.

use super::specs;
use crate::cli::{Format, ValidateArgs};
use crate::error::{Error, Outcome};
use crate::report::Verdict;
use crate::rollout::{Plan, Strategy};
use crate::settings::{InputPath, Settings};
use crate::spec::{Diagnostic, Loaded, Severity};
use serde::Serialize;
use std::io::Write;

/// Runs `validate`.
pub fn run(settings: &Settings, args: &ValidateArgs) -> Result<Outcome, Error> {
    let inputs: Vec<InputPath> = if args.paths.is_empty() {
        settings.canary.clone()
    } else {
        args.paths
            .iter()
            .map(|p| settings.input_path(&p.to_string_lossy()))
            .collect()
    };
    let loaded = specs::load(&inputs, args.recursive, "validate")?;
    let mut diagnostics = loaded.diagnostics.clone();
    let mut plans = Vec::new();
    for c in &loaded.canaries {
        let (plan, notes) = Plan::new(c);
        for n in notes {
            diagnostics.push(c.origin.diag(Severity::Notice, &n.path, n.message));
        }
        plans.push((c.origin.file.clone(), c.origin.doc.pos.line, plan));
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let report = Report::new(&loaded, &diagnostics, &plans, settings.namespace.as_deref());
    match args.format {
        Format::Text => print_text(&diagnostics, &report, settings.github.is_actions())?,
        Format::Json => print_json(&report)?,
    }
    let verdict = if errors > 0 {
        Verdict::Invalid
    } else {
        Verdict::Valid
    };
    specs::report_findings(settings, "validate", &diagnostics, verdict);
    Ok(if errors > 0 {
        Outcome::Invalid
    } else {
        Outcome::Success
    })
}

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    canaries: Vec<CanaryReport>,
    metric_templates: Vec<NamedReport>,
    diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
struct CanaryReport {
    file: String,
    line: u32,
    name: String,
    namespace: Option<String>,
    provider: &'static str,
    strategy: &'static str,
    weights: Vec<u32>,
    iterations: Option<u32>,
    interval_seconds: f64,
    threshold: u32,
    metrics: Vec<String>,
    webhooks: Vec<String>,
    summary: String,
}

#[derive(Serialize)]
struct NamedReport {
    file: String,
    name: String,
    namespace: Option<String>,
}

impl<'a> Report<'a> {
    fn new(
        loaded: &Loaded,
        diagnostics: &'a [Diagnostic],
        plans: &[(String, u32, Plan)],
        default_ns: Option<&str>,
    ) -> Self {
        let count = |s: Severity| diagnostics.iter().filter(|d| d.severity == s).count();
        let canaries = plans
            .iter()
            .map(|(file, line, p)| {
                let (weights, iterations) = match &p.strategy {
                    Strategy::Canary { weights, .. } => (weights.clone(), None),
                    Strategy::AbTesting { iterations, .. }
                    | Strategy::BlueGreen { iterations, .. } => (Vec::new(), Some(*iterations)),
                };
                CanaryReport {
                    file: file.clone(),
                    line: *line,
                    name: p.name.clone(),
                    namespace: p.namespace.clone().or(default_ns.map(str::to_string)),
                    provider: p.provider.as_str(),
                    strategy: p.strategy.kind(),
                    weights,
                    iterations,
                    interval_seconds: p.interval.as_secs_f64(),
                    threshold: p.threshold,
                    metrics: p.metrics.iter().map(|m| m.name.clone()).collect(),
                    webhooks: p.webhooks.iter().map(|w| w.name.clone()).collect(),
                    summary: p.summary(),
                }
            })
            .collect();
        let metric_templates = loaded
            .templates
            .iter()
            .map(|t| NamedReport {
                file: t.origin.file.clone(),
                name: t.name.clone(),
                namespace: t.namespace.clone(),
            })
            .collect();
        let errors = count(Severity::Error);
        Report {
            valid: errors == 0,
            errors,
            warnings: count(Severity::Warning),
            canaries,
            metric_templates,
            diagnostics,
        }
    }
}

fn write_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::WriteOutput {
        what: what.to_string(),
        source,
    }
}

fn print_text(diagnostics: &[Diagnostic], report: &Report<'_>, actions: bool) -> Result<(), Error> {
    specs::print_diagnostics(diagnostics, actions)?;
    let mut out = std::io::stdout().lock();
    for c in &report.canaries {
        let ns = c
            .namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        writeln!(out, "{}: ok: Canary {ns}{}: {}", c.file, c.name, c.summary)
            .map_err(write_err("standard output"))?;
    }
    writeln!(
        out,
        "{} canar{}, {} metric template{}: {} error{}, {} warning{}",
        report.canaries.len(),
        if report.canaries.len() == 1 {
            "y"
        } else {
            "ies"
        },
        report.metric_templates.len(),
        if report.metric_templates.len() == 1 {
            ""
        } else {
            "s"
        },
        report.errors,
        if report.errors == 1 { "" } else { "s" },
        report.warnings,
        if report.warnings == 1 { "" } else { "s" },
    )
    .map_err(write_err("standard output"))
}

fn print_json(report: &Report<'_>) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, report).map_err(|e| Error::WriteOutput {
        what: "standard output".into(),
        source: e.into(),
    })?;
    writeln!(out).map_err(write_err("standard output"))
}
