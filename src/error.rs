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
    /// An error the command already told the user about (as the canary's verdict, on its spec
    /// line): nothing more is printed, and the exit code is the error's.
    Reported(u8),
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
    /// A Kubernetes API request failed after its retries (exit 3); the cluster is left safe.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The cluster is not in a state the rollout can go on from (exit 3): a missing object,
    /// a primary that never became ready, a route that was not accepted.
    #[error("{0}")]
    Infra(String),
}

/// A Kubernetes API request that failed for good, named after the operation; the API's answer
/// is kept as the source, so callers tell a 404 from a 409 or a timeout without reading text.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Reading an object (`what`: "reading deployment/podinfo").
    #[error("{what}: {reason}")]
    Read {
        /// The read, with the object.
        what: String,
        /// The API's answer in one line.
        reason: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Creating or replacing an object.
    #[error("{what}: {reason}")]
    Write {
        /// The write, with the object.
        what: String,
        /// The API's answer in one line.
        reason: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A merge patch (weights, replicas) or a server-side apply.
    #[error("{what}: {reason}")]
    Patch {
        /// The patch, with the object.
        what: String,
        /// The API's answer in one line.
        reason: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

impl ClusterError {
    fn source_error(&self) -> &kube::Error {
        match self {
            ClusterError::Read { source, .. }
            | ClusterError::Write { source, .. }
            | ClusterError::Patch { source, .. } => source,
        }
    }

    /// The API's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self.source_error() {
            kube::Error::Api(s) => Some(s.code),
            _ => None,
        }
    }

    /// The object does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Someone else changed the object first (409), after every retry.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// No answer in time.
    pub fn is_timeout(&self) -> bool {
        let text = self.source_error().to_string().to_lowercase();
        self.status() == Some(504) || text.contains("timed out") || text.contains("timeout")
    }
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::ReadInput { .. } => 2,
            Error::WriteOutput { .. }
            | Error::Unreachable { .. }
            | Error::Cluster(_)
            | Error::Infra(_) => 3,
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
            Outcome::Reported(code) => code,
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
