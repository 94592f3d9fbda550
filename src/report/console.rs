//! Console output and GitHub workflow commands (`::error file=…,line=…::…`, `::add-mask::`).
//!
//! Owns the escaping rules of the runner (message: `%`, CR, LF; properties also `:` and `,`) and
//! the per-step cap of 10 annotations per level. Owns standard output for a rollout's progress
//! (`say`) and its `::group::` folds. Annotations and masks go to standard error, which the runner
//! reads as it reads standard output.

use super::{Event, Report, Sink, SinkFuture};
use crate::spec::{Diagnostic, Severity};
use std::collections::HashMap;

/// The console sink: the verdict and the findings when a report finishes; under GitHub Actions
/// the findings also become annotations (verdict first, at most 10 per level).
pub struct Console {
    /// Inside a GitHub Actions job.
    pub actions: bool,
}

impl Sink for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn send<'a>(&'a mut self, event: Event, report: &'a mut Report) -> SinkFuture<'a> {
        if event == Event::Finished
            && let Some(v) = &report.verdict
        {
            println!(
                "{}: {}{}",
                report.subject,
                v.headline(),
                report
                    .check_run_url
                    .as_deref()
                    .map(|u| format!(" (check run: {u})"))
                    .unwrap_or_default()
            );
            let mut lines: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
            if self.actions {
                lines.extend(annotations(&report.findings));
            }
            for l in lines {
                eprintln!("{l}");
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn say(&mut self, subject: &str, line: &str) {
        println!("{subject}: {line}");
    }

    fn fold(&mut self, subject: &str, open: bool) {
        if !self.actions {
            return;
        }
        if open {
            println!("::group::{subject}: tick");
        } else {
            println!("::endgroup::");
        }
    }
}

/// Annotations the runner shows per level and step.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// Escapes a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::add-mask::value`: the runner hides `value` from every later log line.
pub fn add_mask(value: &str) -> String {
    format!("::add-mask::{}", escape_data(value))
}

/// Hides values from the runner's log: under GitHub Actions (decided once, from the settings)
/// each value becomes an `::add-mask::` command on standard error, before it can appear anywhere.
/// Outside Actions it does nothing.
#[derive(Clone, Copy, Debug)]
pub struct Masker {
    /// Inside a GitHub Actions job.
    pub actions: bool,
}

impl Masker {
    /// Hides `value` from every later log line.
    pub fn mask(&self, value: &str) {
        if self.actions && !value.is_empty() {
            eprintln!("{}", add_mask(value));
        }
    }

    /// Hides the credentials a URL carries (user, password, query values).
    pub fn mask_url(&self, text: &str) {
        if let Ok(u) = url::Url::parse(text) {
            self.mask(u.username());
            if let Some(p) = u.password() {
                self.mask(p);
            }
            for (_, v) in u.query_pairs() {
                // Short values (`a=1`) would mask common words all over the log.
                if v.len() >= 4 {
                    self.mask(&v);
                }
            }
        }
    }
}

/// The annotation command for a diagnostic: `::error file=…,line=…,col=…,title=…::message`.
pub fn annotation(d: &Diagnostic) -> String {
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Notice => "notice",
    };
    let title = d.title();
    format!(
        "::{level} file={},line={},col={},title={}::{}",
        escape_property(&d.file),
        d.line,
        d.column,
        escape_property(&title),
        escape_data(&d.message)
    )
}

/// Annotation lines for `diags`, at most [`ANNOTATIONS_PER_LEVEL`] per level (errors first, in
/// order), plus one notice saying how many were left out.
pub fn annotations(diags: &[Diagnostic]) -> Vec<String> {
    let mut shown: HashMap<Severity, usize> = HashMap::new();
    let mut left_out = 0;
    let mut out = Vec::new();
    for d in diags {
        let n = shown.entry(d.severity).or_default();
        if *n < ANNOTATIONS_PER_LEVEL {
            *n += 1;
            out.push(annotation(d));
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        out.push(format!(
            "::notice title=canary-gate::{left_out} more findings are in the log (GitHub shows {ANNOTATIONS_PER_LEVEL} annotations per level and step)"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::path::FieldPath;
    use crate::spec::yaml::Pos;

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50%\r\nok"), "50%25%0D%0Aok");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn annotation_line() {
        let d = Diagnostic::new(
            Severity::Error,
            "deploy/a,b.yaml",
            Pos { line: 3, col: 5 },
            FieldPath::of(&["spec", "analysis", "interval"]),
            "\"1h\" is bad: 100%\nreally",
        );
        assert_eq!(
            annotation(&d),
            "::error file=deploy/a%2Cb.yaml,line=3,col=5,title=canary-gate%3A spec.analysis.interval::\"1h\" is bad: 100%25%0Areally"
        );
    }

    #[test]
    fn at_most_ten_per_level() {
        let d = Diagnostic::new(
            Severity::Warning,
            "f",
            Pos { line: 1, col: 1 },
            FieldPath::root(),
            "w",
        );
        let lines = annotations(&vec![d; 12]);
        assert_eq!(lines.len(), 11);
        assert!(lines[10].contains("2 more findings"));
    }
}
