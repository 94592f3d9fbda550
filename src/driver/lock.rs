//! The run lock around a body of work: acquired before, released after whatever happened, and a
//! takeover by another holder stops the body and is named. Must not decide the rollout.

use super::Cluster;
use crate::error::Error;
use crate::k8s::{Connection, lock};
use crate::settings::Settings;

/// The lock holder's name: the workflow run, or host and process.
pub fn holder(settings: &Settings) -> String {
    settings.github.run_url().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .unwrap_or_else(|| "localhost".into());
        format!("{host}/pid-{}", std::process::id())
    })
}

/// Runs `body` holding the run lock of canary `name`, releasing it afterwards whatever `body`
/// returned; `body` is given the holder identity written into the lease.
pub async fn under_lock<T>(
    settings: &Settings,
    cluster: &Cluster,
    conn: &Connection,
    namespace: &str,
    name: &str,
    body: impl AsyncFnOnce(&str) -> Result<T, Error>,
) -> Result<T, Error> {
    let who = holder(settings);
    let mut lock = lock::acquire(&conn.client, namespace, name, &who, cluster.lock_timeout).await?;
    let result = tokio::select! {
        r = body(&who) => r,
        other = lock.taken_over() => Err(lock.taken_over_error(namespace, name, &other)),
    };
    // A failure may be the sign of a takeover (another job's writes): say so when it is.
    let result = match result {
        Err(e) => match lock.holder_now().await {
            Some(other) => Err(lock.taken_over_error(namespace, name, &other)),
            None => Err(e),
        },
        other => other,
    };
    lock.release().await;
    result
}
