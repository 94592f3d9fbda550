//! Top-level errors and exit codes: the only place that knows the numbers; and the one-line
//! description of a failed HTTP request (never with its URL, which may hold credentials).
//!
//! 0 ok, 1 rolled back / failed analysis, 2 invalid input, 3 infrastructure, 4 waiting for a gate.

use std::process::ExitCode;

/// How a command ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Promoted, nothing to do, or step done (exit 0).
    Success,
    /// Rolled back or failed analysis: a result, like grep's 1 (exit 1).
    Failed,
    /// Input was invalid; findings were already printed (exit 2).
    Invalid,
    /// Waiting for a gate (exit 4).
    Waiting,
}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, inputs, files or spec: nothing was written to a cluster (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// Reading an input file failed (exit 2).
    #[error("{path}: {source}")]
    ReadInput {
        /// The path as the user gave it.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a result failed (exit 3).
    #[error("writing {what}: {source}")]
    WriteOutput {
        /// What was being written.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The API server cannot be reached (exit 3).
    #[error("the Kubernetes API at {server} is unreachable: {why}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// What failed.
        why: String,
    },
    /// A cluster operation failed after its retries (exit 3); the cluster is left safe.
    #[error("{0}")]
    Infra(String),
    /// An error the command already told the user about (as the canary's verdict, on its
    /// spec line): the exit code is the inner one's, and nothing more is printed.
    #[error("{0}")]
    Reported(Box<Error>),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::ReadInput { .. } => 2,
            Error::WriteOutput { .. } | Error::Unreachable { .. } | Error::Infra(_) => 3,
            Error::Reported(inner) => inner.exit_code(),
        }
    }
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Outcome::Success => 0,
            Outcome::Failed => 1,
            Outcome::Invalid => 2,
            Outcome::Waiting => 4,
        })
    }
}

/// What went wrong with an HTTP request, in one line and without the URL: "timed out",
/// "cannot connect: Connection refused (os error 111)", or the error with its root cause.
pub fn http_failure(e: reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = &e;
    while let Some(next) = root.source() {
        root = next;
    }
    let cause = root.to_string();
    let cause = cause.lines().next().unwrap_or_default().to_string();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        if cause.contains("://") {
            "cannot connect".into()
        } else {
            format!("cannot connect: {cause}")
        }
    } else {
        let top = e.without_url().to_string();
        let top = top.lines().next().unwrap_or_default().to_string();
        if top.contains(&cause) || cause.contains("://") {
            top
        } else {
            format!("{top}: {cause}")
        }
    }
}
