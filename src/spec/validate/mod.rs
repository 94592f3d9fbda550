//! Validation: wire types -> the validated model, with Flagger's defaults and rules.
//!
//! Owns every rule a spec must pass before anything touches a cluster (the CRD schema, Flagger's
//! `verifyCanary`, and canary-gate's own, listed in the README) and every warning about a field
//! this build does not act on. Pure: reports findings, never prints.

mod analysis;
mod canary;
mod filters;
mod names;
mod support;
mod templates;

pub use canary::canary;
pub use support::{
    ACTED_ON_PROVIDERS, ACTED_ON_TARGETS, Inferred, effective_provider, names as provider_names,
};
pub use templates::{alert_provider, metric_template, template_variables};

use crate::spec::de::from_node;
use crate::spec::diag::{Diagnostic, Severity};
use crate::spec::duration::{DurationError, parse_crd_duration};
use crate::spec::model::Origin;
use crate::spec::path::FieldPath;
use std::time::Duration;

/// Reads a whole document as its wire type; a shape error becomes one diagnostic.
pub(crate) fn read_doc<T: serde::de::DeserializeOwned>(
    origin: &Origin,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    match from_node::<T>(&origin.doc, FieldPath::root()) {
        Ok(v) => Some(v),
        Err(e) => {
            let pos = e.pos.unwrap_or(origin.doc.pos);
            diags.push(Diagnostic::new(
                Severity::Error,
                &origin.file,
                pos,
                e.path.clone(),
                e.message(),
            ));
            None
        }
    }
}

/// Collects the findings about one document.
pub(crate) struct Ctx<'a> {
    pub origin: &'a Origin,
    pub diags: &'a mut Vec<Diagnostic>,
    pub errors: usize,
}

impl<'a> Ctx<'a> {
    pub fn new(origin: &'a Origin, diags: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            origin,
            diags,
            errors: 0,
        }
    }

    /// An error at the value of `path`.
    pub fn error(&mut self, path: &FieldPath, msg: impl Into<String>) {
        self.errors += 1;
        self.diags
            .push(self.origin.diag(Severity::Error, path, msg));
    }

    /// An error at the key that names `path` (for "cannot be combined" and unknown keys).
    pub fn error_at_key(&mut self, path: &FieldPath, msg: impl Into<String>) {
        self.errors += 1;
        let pos = path
            .key_pos_in(&self.origin.doc)
            .unwrap_or_else(|| self.origin.pos(path));
        self.diags.push(Diagnostic::new(
            Severity::Error,
            &self.origin.file,
            pos,
            path.clone(),
            msg,
        ));
    }

    /// A warning at `path`.
    pub fn warn(&mut self, path: &FieldPath, msg: impl Into<String>) {
        self.diags
            .push(self.origin.diag(Severity::Warning, path, msg));
    }

    /// A notice at `path`.
    pub fn notice(&mut self, path: &FieldPath, msg: impl Into<String>) {
        self.diags
            .push(self.origin.diag(Severity::Notice, path, msg));
    }

    /// An integer within `lo..=hi`, or an error naming the range.
    pub fn int_in(&mut self, path: &FieldPath, value: i64, lo: i64, hi: i64) -> Option<u32> {
        if (lo..=hi).contains(&value) {
            u32::try_from(value).ok()
        } else {
            let range = if hi >= i64::from(i32::MAX) {
                format!("must be at least {lo}")
            } else {
                format!("must be between {lo} and {hi}")
            };
            self.error(path, format!("{value} is out of range: {range}"));
            None
        }
    }

    /// A duration field: Go syntax behind Flagger's `^[0-9]+(m|s)` pattern.
    pub fn duration(&mut self, path: &FieldPath, text: &str) -> Option<Duration> {
        match parse_crd_duration(text) {
            Ok(d) => Some(d),
            Err(DurationError::NotADuration) => {
                self.error(path, format!("{text:?} is not a duration (e.g. 30s, 1m)"));
                None
            }
            Err(DurationError::Pattern) => {
                self.error(
                    path,
                    format!(
                        "{text:?} must start with a number of seconds or minutes (Flagger's CRD pattern ^[0-9]+(m|s)), e.g. 90s or 60m"
                    ),
                );
                None
            }
        }
    }

    /// A URL with an http or https scheme.
    pub fn http_url(&mut self, path: &FieldPath, text: &str) -> bool {
        match url_problem(text) {
            None => true,
            Some(why) => {
                self.error(path, why);
                false
            }
        }
    }
}

/// Why `text` is not an http(s) URL with a host, if it is not one.
pub fn url_problem(text: &str) -> Option<String> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => None,
        Ok(u) => Some(format!(
            "{text:?} is not an http(s) URL (scheme {:?})",
            u.scheme()
        )),
        Err(e) => Some(format!("{text:?} is not a URL: {e}")),
    }
}
