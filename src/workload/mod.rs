//! Workloads behind one trait, [`Workload`]: the target and its `-primary` copy, the `-primary`
//! copies of tracked ConfigMaps and Secrets, the HPA copy, scaling, readiness and revisions
//! (reference §3). One file per target kind (`deployment.rs`, `daemonset.rs`, `service_target.rs`,
//! `knative.rs`); the renders
//! they share are pure (`primary.rs`, `configs.rs`, `hpa.rs`, `readiness.rs`, `images.rs`). Which
//! workload a canary gets is decided once, in `driver::edges`. Must not route traffic or decide
//! the rollout.

pub mod configs;
pub mod daemonset;
pub mod deployment;
pub mod hpa;
pub mod images;
pub mod knative;
pub mod primary;
pub mod readiness;
pub mod service_target;

use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::rollout::Health;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// What observing a workload found at the start of a tick.
#[derive(Clone, Debug)]
#[expect(missing_docs, reason = "plain data: the names say it")]
pub struct Observation {
    pub revision: String,
    pub tracked_configs: BTreeMap<String, String>,
    pub canary: Health,
    pub primary: Health,
}

/// What initializing a workload takes, with what the state records about it.
#[expect(missing_docs, reason = "plain data: the names say it")]
pub struct Initialization<'a> {
    pub steps: Vec<InitStep<'a>>,
    pub revision: String,
    pub tracked_configs: BTreeMap<String, String>,
    pub uid: Option<String>,
}

/// A target kind: its primary, its revisions, its readiness and its scale.
#[async_trait::async_trait]
pub trait Workload: Send + Sync {
    /// `apiVersion` and `kind` of the target (the object Events are recorded on).
    fn kind(&self) -> (&'static str, &'static str);

    /// Reads what the primary side is rendered from and checks it (a missing target, config or
    /// HPA is invalid input, before anything is written); returns the steps that create it.
    /// `first`: the canary is taken over now (the target is scaled down only then).
    async fn initialization(
        &self,
        read: &dyn Read,
        first: bool,
    ) -> Result<Initialization<'_>, Error>;

    /// What promotion writes, in order (the primary last). `id`: the new rollout id; `None`
    /// keeps the live one (for `plan`, which shows only what the user changed).
    async fn promotion(&self, read: &dyn Read, id: Option<&str>)
    -> Result<Vec<Desired<'_>>, Error>;

    /// The target's revision and tracked configs, and the readiness of both sides.
    async fn observe(&self, client: &kube::Client) -> Result<Observation, Error>;

    /// Waits until the primary is ready; stuck or `timeout` is an infrastructure error.
    async fn wait_primary_ready(
        &self,
        client: &kube::Client,
        timeout: Duration,
    ) -> Result<(), Error>;

    /// Scales the target to zero; whether it had replicas.
    async fn scale_to_zero(&self, client: &kube::Client) -> Result<bool, Error>;

    /// Scales the target back up for a new revision.
    async fn scale_from_zero(&self, client: &kube::Client) -> Result<(), Error>;

    /// Whether the target's own status says when it is stuck (a Deployment's progress
    /// deadline). When it does not (a DaemonSet), the executor counts `progressDeadlineSeconds`
    /// from the canary's last transition, as Flagger does.
    fn owns_deadline(&self) -> bool {
        true
    }
}

/// Polls the primary's `health` every 500 ms until it is ready; stuck, or not ready within
/// `timeout`, is an infrastructure error (traffic is not moved).
pub async fn wait_ready<F, Fut>(timeout: Duration, mut health: F) -> Result<(), Error>
where
    F: FnMut() -> Fut + Send,
    Fut: std::future::Future<Output = Result<Health, Error>> + Send,
{
    let started = std::time::Instant::now();
    let mut last = String::new();
    loop {
        match health().await? {
            Health::Ready => return Ok(()),
            Health::Stuck(why) => {
                return Err(Error::Infra(format!(
                    "the primary is not ready, so traffic was not moved: {why}"
                )));
            }
            Health::Waiting(why) if why != last => {
                tracing::info!("waiting for the primary: {why}");
                last = why;
            }
            Health::Waiting(_) => {}
        }
        if started.elapsed() >= timeout {
            return Err(Error::Infra(format!(
                "the primary was not ready after {}s, so traffic was not moved: {last}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Controller options that shape the objects (Flagger's controller flags, same defaults).
#[derive(Clone, Debug)]
pub struct Options {
    /// Selector label keys, in order (`app,name,app.kubernetes.io/name`).
    pub selector_labels: Vec<String>,
    /// Label key prefixes copied to the primary (`""`: none, `*`: all).
    pub include_label_prefixes: Vec<String>,
    /// Copy referenced ConfigMaps and Secrets to `-primary` and re-point the primary at them.
    pub config_tracking: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            selector_labels: vec!["app".into(), "name".into(), "app.kubernetes.io/name".into()],
            include_label_prefixes: Vec::new(),
            config_tracking: true,
        }
    }
}

/// Pod template annotation regenerated on every promotion (it forces the primary to roll).
pub const ROLLOUT_ID_ANNOTATION: &str = "canary-gate.dev/id";

/// The selector label (§3.1): the first of `keys` present in `match_labels`.
pub fn selector_label(
    match_labels: &BTreeMap<String, String>,
    keys: &[String],
) -> Option<(String, String)> {
    keys.iter()
        .find_map(|k| match_labels.get(k).map(|v| (k.clone(), v.clone())))
}

/// The selector label of `what` (`kind/name`) from its `match_labels`; none of `keys` there is
/// invalid input.
pub fn selector_of(
    what: &str,
    match_labels: &BTreeMap<String, String>,
    keys: &[String],
) -> Result<(String, String), String> {
    selector_label(match_labels, keys).ok_or_else(|| {
        format!(
            "{what}: spec.selector.matchLabels must contain one of [{}] (--selector-labels)",
            keys.join(", ")
        )
    })
}

/// The target `name` of kind `K` read through `read`; a missing one is invalid input naming
/// `spec.targetRef`.
pub async fn required_target<K>(read: &dyn Read, namespace: &str, name: &str) -> Result<K, Error>
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned,
{
    crate::k8s::desired::get::<K>(read, name)
        .await?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{}/{name} (spec.targetRef) does not exist in namespace {namespace}",
                K::kind(&()).to_lowercase()
            ))
        })
}

/// Flagger's initialization order for a target with a primary copy (reference §2.5): the
/// canary and primary Services; when the primary is missing, the tracked configs' copies then
/// the primary (`missing`); the HPA copy; a wait for the primary; the apex Service.
pub fn primary_init_steps(
    inputs: &crate::router::services::Inputs<'_>,
    missing: Option<(Vec<Desired<'static>>, Desired<'static>)>,
    hpa: Option<Desired<'static>>,
) -> Vec<InitStep<'static>> {
    use crate::router::services::{Which, desired};
    let mut steps = vec![
        InitStep::Apply(desired(inputs, Which::Canary)),
        InitStep::Apply(desired(inputs, Which::Primary)),
    ];
    if let Some((copies, primary)) = missing {
        steps.extend(copies.into_iter().map(InitStep::Apply));
        steps.push(InitStep::Apply(primary));
    }
    steps.extend(hpa.map(InitStep::Apply));
    steps.push(InitStep::WaitPrimaryReady);
    steps.push(InitStep::Apply(desired(inputs, Which::Apex)));
    steps
}

/// Drops keys Flux owns (`*toolkit.fluxcd.io*`).
pub fn without_toolkit(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| !k.contains("toolkit.fluxcd.io"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Labels whose key starts with one of `prefixes` (`*` keeps all), Flux keys dropped.
pub fn include_by_prefix(
    map: &BTreeMap<String, String>,
    prefixes: &[String],
) -> BTreeMap<String, String> {
    without_toolkit(map)
        .into_iter()
        .filter(|(k, _)| {
            prefixes
                .iter()
                .any(|p| p == "*" || (!p.is_empty() && k.starts_with(p.as_str())))
        })
        .collect()
}

/// A short stable hash of a value's JSON (first 8 bytes of SHA-256, hex).
pub fn hash_json(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_label_takes_the_first_known_key() {
        let keys = Options::default().selector_labels;
        let ml = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "x".to_string()),
            ("name".to_string(), "y".to_string()),
        ]);
        assert_eq!(
            selector_label(&ml, &keys),
            Some(("name".into(), "y".into()))
        );
        assert_eq!(selector_label(&BTreeMap::new(), &keys), None);
    }

    #[test]
    fn prefixes_filter_labels() {
        let m = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "a".to_string()),
            ("team".to_string(), "b".to_string()),
            (
                "kustomize.toolkit.fluxcd.io/name".to_string(),
                "c".to_string(),
            ),
        ]);
        assert!(include_by_prefix(&m, &[]).is_empty());
        assert_eq!(
            include_by_prefix(&m, &["app.kubernetes.io".into()]).len(),
            1
        );
        assert_eq!(include_by_prefix(&m, &["*".into()]).len(), 2);
    }
}
