//! The run lock: a `coordination.k8s.io/v1` Lease `canary-gate.<canary>`, held and renewed while
//! a job drives the canary. A second runner waits (`lock-timeout`), then gives up naming the
//! holder; an expired lease is taken over.

use super::write::{describe, retryable, with_retries};
use crate::error::Error;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use std::time::{Duration, Instant};

/// How long a lease lives without renewal.
pub const LEASE_SECONDS: i32 = 30;

/// A held lock; renewed in the background until released or dropped.
pub struct Lock {
    api: Api<Lease>,
    name: String,
    renewer: tokio::task::JoinHandle<()>,
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    renewed.0.as_second() + secs < now.as_second()
}

fn lease(name: &str, holder: &str, version: Option<String>, transitions: i32) -> Lease {
    let now = MicroTime(Timestamp::now());
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            resource_version: version,
            labels: Some(
                [(
                    super::MANAGED_BY.0.to_string(),
                    super::MANAGED_BY.1.to_string(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

/// Takes the lock for canary `canary`, waiting up to `wait` for another holder to finish.
pub async fn acquire(
    client: &kube::Client,
    namespace: &str,
    canary: &str,
    holder: &str,
    wait: Duration,
) -> Result<Lock, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let name = format!("canary-gate.{canary}");
    let started = Instant::now();
    let mut announced = false;
    let mut transient = 0u32;
    loop {
        let what = format!("reading lease/{name}");
        let current = with_retries(&what, || api.get_opt(&name))
            .await
            .map_err(|e| Error::Infra(format!("{what}: {}", describe(&e))))?;
        let attempt = match &current {
            None => api
                .create(&PostParams::default(), &lease(&name, holder, None, 0))
                .await
                .map(|_| true),
            Some(l) => {
                let spec = l.spec.clone().unwrap_or_default();
                let held_by = spec.holder_identity.clone().unwrap_or_default();
                if held_by.is_empty() || held_by == holder || expired(&spec, Timestamp::now()) {
                    let transitions =
                        spec.lease_transitions.unwrap_or(0) + i32::from(held_by != holder);
                    let mut next = lease(
                        &name,
                        holder,
                        l.metadata.resource_version.clone(),
                        transitions,
                    );
                    if held_by == holder
                        && let Some(s) = next.spec.as_mut()
                    {
                        s.acquire_time = spec.acquire_time.clone();
                    }
                    api.replace(&name, &PostParams::default(), &next)
                        .await
                        .map(|_| true)
                } else {
                    if started.elapsed() >= wait {
                        return Err(Error::Infra(format!(
                            "canary {namespace}/{canary} is being driven by {held_by} (lease/{name}); gave up after {}s",
                            wait.as_secs()
                        )));
                    }
                    if !announced {
                        tracing::info!("waiting for lease/{name}, held by {held_by}");
                        announced = true;
                    }
                    Ok(false)
                }
            }
        };
        match attempt {
            Ok(true) => break,
            Ok(false) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(Error::Invalid(format!(
                    "namespace {namespace} of canary {canary} does not exist ({})",
                    s.message
                )));
            }
            Err(e) if retryable(&e) && transient < 6 => {
                transient += 1;
                tracing::warn!("taking lease/{name}: {}; retrying", describe(&e));
                tokio::time::sleep(Duration::from_millis(200 * u64::from(transient))).await;
            }
            Err(e) => {
                return Err(Error::Infra(format!(
                    "taking lease/{name}: {}",
                    describe(&e)
                )));
            }
        }
    }
    let renewer = tokio::spawn(renew(api.clone(), name.clone(), holder.to_string()));
    Ok(Lock { api, name, renewer })
}

async fn renew(api: Api<Lease>, name: String, holder: String) {
    let period = Duration::from_secs((LEASE_SECONDS / 3) as u64);
    loop {
        tokio::time::sleep(period).await;
        let Ok(Some(mut l)) = api.get_opt(&name).await else {
            continue;
        };
        let Some(spec) = l.spec.as_mut() else {
            continue;
        };
        if spec.holder_identity.as_deref() != Some(holder.as_str()) {
            tracing::warn!("lease/{name} was taken over by {:?}", spec.holder_identity);
            return;
        }
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Err(e) = api.replace(&name, &PostParams::default(), &l).await {
            tracing::warn!("renewing lease/{name}: {}", describe(&e));
        }
    }
}

impl Lock {
    /// Releases the lock (deletes the Lease if it is still ours).
    pub async fn release(self) {
        self.renewer.abort();
        let what = format!("releasing lease/{}", self.name);
        if let Ok(Some(l)) = with_retries(&what, || self.api.get_opt(&self.name)).await {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: l.metadata.resource_version.clone(),
                    uid: l.metadata.uid.clone(),
                }),
                ..DeleteParams::default()
            };
            // On a conflict, retry only while the lease is still the one we hold (a transient
            // conflict); if it moved on to another holder there is nothing of ours to delete.
            let delete = || async {
                match self.api.delete(&self.name, &params).await {
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        match self.api.get_opt(&self.name).await? {
                            Some(now)
                                if now.metadata.resource_version == l.metadata.resource_version =>
                            {
                                Err(kube::Error::Api(s))
                            }
                            _ => Ok(()),
                        }
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                    other => other.map(|_| ()),
                }
            };
            if let Err(e) = with_retries(&what, delete).await {
                tracing::warn!("{what}: {}", describe(&e));
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
