//! The run lock: a `coordination.k8s.io/v1` Lease `canary-gate.<canary>`, held and renewed while
//! a job drives the canary. A second runner waits (`lock-timeout`), then gives up naming the
//! holder; an expired lease is taken over. A holder whose lease was taken over hears of it (the
//! renewer sees the new holder) and must stop; releasing deletes the Lease only while it is
//! still this holder's (a DELETE with the uid and resourceVersion of a Lease read as ours).

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
    holder: String,
    renewer: tokio::task::JoinHandle<()>,
    lost: tokio::sync::watch::Receiver<Option<String>>,
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
    let name = crate::rollout::state_name(canary);
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
    let (tell, lost) = tokio::sync::watch::channel(None);
    let renewer = tokio::spawn(renew(api.clone(), name.clone(), holder.to_string(), tell));
    Ok(Lock {
        api,
        name,
        holder: holder.to_string(),
        renewer,
        lost,
    })
}

/// Who holds a Lease, if not `me` (also when it is gone or unheld: someone removed our hold).
fn other_holder(lease: Option<&Lease>, me: &str) -> Option<String> {
    let held_by = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.holder_identity.clone())
        .filter(|h| !h.is_empty());
    match held_by {
        Some(h) if h == me => None,
        Some(h) => Some(h),
        None => Some("nobody (the lease was deleted or released by another process)".into()),
    }
}

async fn renew(
    api: Api<Lease>,
    name: String,
    holder: String,
    lost: tokio::sync::watch::Sender<Option<String>>,
) {
    let period = Duration::from_secs((LEASE_SECONDS / 3) as u64);
    loop {
        tokio::time::sleep(period).await;
        let Ok(current) = api.get_opt(&name).await else {
            continue;
        };
        if let Some(other) = other_holder(current.as_ref(), &holder) {
            tracing::warn!("lease/{name} was taken over by {other}");
            let _ = lost.send(Some(other));
            return;
        }
        let Some(mut l) = current else { continue };
        let Some(spec) = l.spec.as_mut() else {
            continue;
        };
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Err(e) = api.replace(&name, &PostParams::default(), &l).await {
            tracing::warn!("renewing lease/{name}: {}", describe(&e));
        }
    }
}

impl Lock {
    /// Resolves with the new holder once the renewer has seen the lease taken over.
    pub async fn taken_over(&mut self) -> String {
        loop {
            if let Some(other) = self.lost.borrow().clone() {
                return other;
            }
            if self.lost.changed().await.is_err() {
                // The renewer ended without a takeover: this never resolves.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The holder that took the lease over, if it is no longer this one's (one read).
    pub async fn holder_now(&self) -> Option<String> {
        let current = self.api.get_opt(&self.name).await.ok()?;
        other_holder(current.as_ref(), &self.holder)
    }

    /// The error of a holder whose lease was taken over.
    pub fn taken_over_error(&self, namespace: &str, canary: &str, other: &str) -> Error {
        Error::Infra(format!(
            "canary {namespace}/{canary}: lease/{} was taken over by {other}; stopped driving it",
            self.name
        ))
    }

    /// Releases the lock: deletes the Lease only while it is still ours (read as ours, deleted
    /// with that uid and resourceVersion as preconditions); a lease taken over is left to its
    /// new holder.
    pub async fn release(self) {
        self.renewer.abort();
        let what = format!("releasing lease/{}", self.name);
        let delete_ours = || async {
            let Some(l) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            if let Some(other) = other_holder(Some(&l), &self.holder) {
                tracing::warn!("lease/{} is held by {other} now; leaving it", self.name);
                return Ok(());
            }
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: l.metadata.resource_version.clone(),
                    uid: l.metadata.uid.clone(),
                }),
                ..DeleteParams::default()
            };
            match self.api.delete(&self.name, &params).await {
                // Moved since it was read: read it again and decide again (retried).
                Err(kube::Error::Api(s)) if s.code == 409 => Err(kube::Error::Api(s)),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                other => other.map(|_| ()),
            }
        };
        if let Err(e) = with_retries(&what, delete_ours).await {
            tracing::warn!("{what}: {}", describe(&e));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
