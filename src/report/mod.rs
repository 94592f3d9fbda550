//! Telling people what happened: the console (and GitHub workflow commands) today; the job
//! summary and check runs join here.
//!
//! Owns formatting for humans and for the runner. Must never change a decision: a reporter that
//! fails logs a warning and the command carries on.

pub mod console;
