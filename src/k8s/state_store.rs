//! `RolloutState` in the ConfigMap `canary-gate.<canary>`: read, and written only when it changed,
//! with `resourceVersion` so a stale writer gets 409 instead of overwriting.

use super::write::{describe, read_opt, retryable};
use super::{MANAGED_BY, OWNER_ANNOTATION};
use crate::error::Error;
use crate::rollout::RolloutState;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

/// Writes tried before a transient failure is reported.
const WRITE_ATTEMPTS: u32 = 6;

/// The data key that holds the JSON.
const KEY: &str = "state.json";

/// One canary's stored state.
pub struct StateStore {
    api: Api<ConfigMap>,
    name: String,
    owner: String,
    /// The resourceVersion the state was read at (`None`: not stored yet).
    version: Option<String>,
    /// The state as last read or written.
    stored: Option<RolloutState>,
}

impl StateStore {
    /// The store for canary `name` (its ConfigMap is `canary-gate.<name>`), read now.
    pub async fn open(
        client: &kube::Client,
        namespace: &str,
        canary: &str,
    ) -> Result<StateStore, Error> {
        let name = crate::rollout::state_name(canary);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let what = format!("reading state configmap/{name}");
        let cm = read_opt(&api, &name, &what).await?;
        let (version, stored) = match cm {
            None => (None, None),
            Some(cm) => {
                let text = cm
                    .data
                    .as_ref()
                    .and_then(|d| d.get(KEY))
                    .cloned()
                    .unwrap_or_default();
                let state = serde_json::from_str(&text).map_err(|e| {
                    Error::Infra(format!("configmap/{name} in {namespace} does not hold canary-gate state ({e}); delete it to start over"))
                })?;
                (cm.metadata.resource_version.clone(), Some(state))
            }
        };
        Ok(StateStore {
            api,
            name,
            owner: super::canary_id(namespace, canary),
            version,
            stored,
        })
    }

    /// The stored state, if any.
    pub fn state(&self) -> Option<&RolloutState> {
        self.stored.as_ref()
    }

    /// Writes `state` when it differs from what is stored (ignoring the `updated` stamp).
    pub async fn save(&mut self, state: &RolloutState) -> Result<(), Error> {
        let mut compare = state.clone();
        compare.updated = self.stored.as_ref().and_then(|s| s.updated.clone());
        if self.stored.as_ref() == Some(&compare) {
            return Ok(());
        }
        let mut state = state.clone();
        state.updated = Some(k8s_openapi::jiff::Timestamp::now().to_string());
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| Error::Infra(format!("encoding state: {e}")))?;
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version: self.version.clone(),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY.0.to_string(),
                    MANAGED_BY.1.to_string(),
                )])),
                annotations: Some(BTreeMap::from([(
                    OWNER_ANNOTATION.to_string(),
                    self.owner.clone(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(KEY.to_string(), text)])),
            ..ConfigMap::default()
        };
        let mut attempt = 0u32;
        loop {
            let result = match &self.version {
                None => self.api.create(&PostParams::default(), &cm).await,
                Some(_) => {
                    self.api
                        .replace(&self.name, &PostParams::default(), &cm)
                        .await
                }
            };
            let why = match result {
                Ok(written) => {
                    self.version = written.metadata.resource_version;
                    self.stored = Some(state);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    // A conflict is only a stale writer if the object moved since we read it; an
                    // unchanged object (or our own write, landed before its answer got lost) is not.
                    let what = format!("re-reading configmap/{}", self.name);
                    let now = read_opt(&self.api, &self.name, &what).await?;
                    let rv = now
                        .as_ref()
                        .and_then(|c| c.metadata.resource_version.clone());
                    if now.as_ref().is_some_and(|c| c.data == cm.data) {
                        self.version = rv;
                        self.stored = Some(state);
                        return Ok(());
                    }
                    if rv != self.version || attempt >= WRITE_ATTEMPTS {
                        return Err(Error::Infra(format!(
                            "configmap/{} was changed by another runner since it was read; nothing was overwritten ({})",
                            self.name, s.message
                        )));
                    }
                    describe(&kube::Error::Api(s))
                }
                Err(e) if retryable(&e) && attempt < WRITE_ATTEMPTS => describe(&e),
                Err(e) => {
                    return Err(Error::Infra(format!(
                        "writing configmap/{}: {}",
                        self.name,
                        describe(&e)
                    )));
                }
            };
            attempt += 1;
            let pause = Duration::from_millis(100u64 << attempt.min(5)).min(Duration::from_secs(2));
            tracing::warn!(
                "writing configmap/{}: {why}; retrying in {pause:?} ({attempt}/{WRITE_ATTEMPTS})",
                self.name
            );
            tokio::time::sleep(pause).await;
        }
    }
}
