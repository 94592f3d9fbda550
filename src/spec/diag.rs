//! Diagnostics: one finding about one place in one file.
//!
//! Owns the shape and the one-line text form (`file:line:col: error: path: message`). Must not
//! print anything (reporters decide where lines go).

use crate::spec::path::FieldPath;
use crate::spec::yaml::Pos;
use serde::Serialize;
use std::fmt;

/// How serious a finding is. Errors make input invalid (exit 2); the others are advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Invalid input: nothing will be written to a cluster.
    Error,
    /// Valid, but something will not behave as the spec may suggest.
    Warning,
    /// Worth knowing.
    Notice,
}

impl Severity {
    /// `error`, `warning` or `notice`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The field it is about (`spec.analysis.stepWeights[2]`); empty for the whole document.
    #[serde(serialize_with = "serialize_path")]
    pub path: FieldPath,
    /// What is wrong, on one line.
    pub message: String,
}

fn serialize_path<S: serde::Serializer>(path: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string())
}

impl Diagnostic {
    /// A finding at `pos` in `file`.
    pub fn new(
        severity: Severity,
        file: &str,
        pos: Pos,
        path: FieldPath,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            file: file.to_string(),
            line: pos.line.max(1),
            column: pos.col.max(1),
            path,
            message: message.into(),
        }
    }

    /// The annotation title: `canary-gate: <field path>` (or `canary-gate` for a whole document).
    pub fn title(&self) -> String {
        if self.path.is_root() {
            "canary-gate".to_string()
        } else {
            format!("canary-gate: {}", self.path)
        }
    }

    /// The message with the field path in front, as shown after `error: `.
    pub fn text(&self) -> String {
        if self.path.is_root() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file,
            self.line,
            self.column,
            self.severity.as_str(),
            self.text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_form() {
        let d = Diagnostic::new(
            Severity::Error,
            "deploy/canary.yaml",
            Pos { line: 14, col: 15 },
            FieldPath::of(&["spec", "analysis", "interval"]),
            "\"30 seconds\" is not a duration (e.g. 30s, 1m)",
        );
        assert_eq!(
            d.to_string(),
            "deploy/canary.yaml:14:15: error: spec.analysis.interval: \"30 seconds\" is not a duration (e.g. 30s, 1m)"
        );
    }
}
