//! PURE. Flagger `Canary` / `MetricTemplate` / `AlertProvider` YAML: reading with positions,
//! defaults and validation, into the validated model.
//!
//! Owns everything between a file's text and a [`model::Canary`]. Must not touch the filesystem,
//! the network or a cluster, and must not import kube, k8s-openapi, octocrab, reqwest or tokio
//! (a test enforces it): callers hand it text and get values and [`Diagnostic`]s back.

pub mod de;
pub mod diag;
pub mod duration;
mod load;
pub mod manifests;
pub mod model;
pub mod path;
pub mod validate;
pub mod wire;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use load::{Loaded, Source, load};
