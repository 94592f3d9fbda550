//! Flagger's webhooks (reference §2.12): the payload, POST with the hook's timeout and retries,
//! `disableTLS`, and the one rule that decides a gate: 200-202 is open, anything else (or no
//! answer) is closed with the body in the reason. Counting failures is the core's job.

use crate::rollout::{GateOutcome, HookRecord, Phase};
use crate::spec::model::{HookKind, Webhook};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The JSON a hook receives.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Payload {
    /// Canary name.
    pub name: String,
    /// Canary namespace.
    pub namespace: String,
    /// Flagger's phase name.
    pub phase: String,
    /// Hash of the revision under analysis (tracked configs and last applied spec).
    pub checksum: String,
    /// The hook's metadata (event hooks add eventMessage, eventType, timestamp).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Flagger's spelling of a phase in payloads.
pub fn phase_name(p: Phase) -> String {
    format!("{p:?}")
}

/// Calls webhooks.
#[derive(Clone)]
pub struct Caller {
    client: reqwest::Client,
    insecure: reqwest::Client,
}

impl Caller {
    /// Clients for verified and `disableTLS` hooks.
    pub fn new() -> Result<Caller, String> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| e.to_string())?;
        let insecure = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Caller { client, insecure })
    }

    /// One hook, with its retries: open on 200-202.
    pub async fn call(&self, hook: &Webhook, payload: &Payload) -> GateOutcome {
        let client = if hook.disable_tls {
            &self.insecure
        } else {
            &self.client
        };
        let mut last = String::new();
        for attempt in 0..=hook.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
            }
            let sent = client
                .post(&hook.url)
                .timeout(hook.timeout)
                .json(payload)
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (200..=202).contains(&status) {
                        return GateOutcome::Open;
                    }
                    let body = resp.text().await.unwrap_or_default();
                    let body = body.trim();
                    last = format!(
                        "{} answered {status}{}",
                        hook.name,
                        if body.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", one_line(body))
                        }
                    );
                    if status < 500 && status != 429 {
                        break;
                    }
                }
                Err(e) => {
                    // Without the URL: it may hold credentials.
                    last = format!("{}: {}", hook.name, crate::error::http_failure(e))
                }
            }
        }
        GateOutcome::Closed(last)
    }

    /// Every hook of `kind`, in order, stopping at the first closed one; with a record of each
    /// call for the reports.
    pub async fn gate(
        &self,
        hooks: &[Webhook],
        kind: HookKind,
        payload: &Payload,
    ) -> (GateOutcome, Vec<HookRecord>) {
        let mut records = Vec::new();
        for hook in hooks.iter().filter(|h| h.kind == kind) {
            let mut p = payload.clone();
            p.metadata = hook.metadata.clone();
            let outcome = self.call(hook, &p).await;
            let reason = match &outcome {
                GateOutcome::Closed(why) => Some(why.clone()),
                GateOutcome::Open => None,
            };
            records.push(HookRecord {
                name: hook.name.clone(),
                kind: kind.as_str().to_string(),
                passed: reason.is_none(),
                reason,
            });
            if let GateOutcome::Closed(_) = outcome {
                return (outcome, records);
            }
        }
        (GateOutcome::Open, records)
    }

    /// `event` hooks for one note (failures are only logged).
    pub async fn event(
        &self,
        hooks: &[Webhook],
        payload: &Payload,
        message: &str,
        warning: bool,
        now_ms: u128,
    ) {
        for hook in hooks.iter().filter(|h| h.kind == HookKind::Event) {
            let mut p = payload.clone();
            p.metadata = hook.metadata.clone();
            p.metadata
                .insert("eventMessage".into(), message.to_string());
            p.metadata.insert(
                "eventType".into(),
                if warning { "Warning" } else { "Normal" }.into(),
            );
            p.metadata.insert("timestamp".into(), now_ms.to_string());
            if let GateOutcome::Closed(why) = self.call(hook, &p).await {
                tracing::warn!("event webhook {}: {why}", hook.name);
            }
        }
    }
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.len() > 200 {
        format!(
            "{}…",
            &line[..line.char_indices().nth(200).map_or(line.len(), |(i, _)| i)]
        )
    } else {
        line.to_string()
    }
}
