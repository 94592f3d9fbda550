//! The write helper: get → desired → compare → create or replace with `resourceVersion`, and
//! merge patches, with bounded jittered retries (backon) on 409/429/5xx and transport errors,
//! re-reading before each retry. An unchanged object costs one GET and no write.

use crate::error::{ClusterError, Error};
use backon::{ExponentialBuilder, Retryable};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object already was as desired.
    Unchanged,
    /// It was created.
    Created,
    /// It was updated.
    Updated,
}

/// Errors worth retrying: conflicts, throttling, server errors, transport failures.
pub fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(3))
        .with_max_times(6)
        .with_jitter()
}

/// A one-line description of a kube error.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// A read that failed for good.
pub fn read_failed(what: &str, source: kube::Error) -> Error {
    let reason = describe(&source);
    Error::Cluster(ClusterError::Read {
        what: what.to_string(),
        reason,
        source,
    })
}

/// A create or replace that failed for good.
pub fn write_failed(what: &str, source: kube::Error) -> Error {
    let reason = describe(&source);
    Error::Cluster(ClusterError::Write {
        what: what.to_string(),
        reason,
        source,
    })
}

/// A patch or server-side apply that failed for good.
pub fn patch_failed(what: &str, source: kube::Error) -> Error {
    let reason = describe(&source);
    Error::Cluster(ClusterError::Patch {
        what: what.to_string(),
        reason,
        source,
    })
}

/// Runs `op` with retries on retryable errors, logging each retry.
pub async fn with_retries<T, F, Fut>(what: &str, op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    with_retries_when(what, op, retryable).await
}

/// Like [`with_retries`], retrying only the errors `when` accepts.
pub async fn with_retries_when<T, F, Fut>(
    what: &str,
    op: F,
    when: impl FnMut(&kube::Error) -> bool,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    op.retry(policy())
        .when(when)
        .notify(|e, after| tracing::warn!("{what}: {}; retrying in {after:?}", describe(e)))
        .await
}

/// Reads an object that may be absent, with retries; `what` names the read in errors.
pub async fn read_opt<K>(api: &Api<K>, name: &str, what: &str) -> Result<Option<K>, Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    with_retries(what, || api.get_opt(name))
        .await
        .map_err(|e| read_failed(what, e))
}

/// Makes the object `name` what `desired` says it should be, given what exists (`None`: leave it
/// as it is or absent).
pub async fn ensure<K, F>(
    api: &Api<K>,
    name: &str,
    what: &str,
    desired: F,
) -> Result<Outcome, Error>
where
    K: Resource + Clone + Debug + PartialEq + Serialize + DeserializeOwned,
    F: Fn(Option<&K>) -> Option<K>,
{
    let attempt = || async {
        let current = api.get_opt(name).await?;
        let Some(mut want) = desired(current.as_ref()) else {
            return Ok(Outcome::Unchanged);
        };
        match current {
            Some(cur) if cur == want => Ok(Outcome::Unchanged),
            Some(cur) => {
                want.meta_mut().resource_version = cur.meta().resource_version.clone();
                api.replace(name, &PostParams::default(), &want).await?;
                Ok(Outcome::Updated)
            }
            None => {
                want.meta_mut().resource_version = None;
                api.create(&PostParams::default(), &want).await?;
                Ok(Outcome::Created)
            }
        }
    };
    let outcome = with_retries(what, attempt)
        .await
        .map_err(|e| write_failed(what, e))?;
    if outcome != Outcome::Unchanged {
        tracing::info!("{what}: {outcome:?}");
    }
    Ok(outcome)
}

/// A JSON merge patch, with retries.
pub async fn merge_patch<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    patch: serde_json::Value,
) -> Result<K, Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let params = PatchParams::default();
    let patch = Patch::Merge(&patch);
    with_retries(what, || api.patch(name, &params, &patch))
        .await
        .map_err(|e| patch_failed(what, e))
}
