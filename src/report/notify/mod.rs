//! Notifications (Flagger's alerts): a [`Sink`] that sends each alert the rollout raises to the
//! canary's alert providers whose `severity` admits it (`info`: everything, `warn`: warnings and
//! errors, `error`: errors only), once per alert, within the tick's time budget. A provider that
//! fails is the sink's one warning; it never changes the rollout. Resolving the providers is in
//! `resolve.rs`, the bodies in `payload.rs`, posting in `send.rs`. Must not decide when to alert
//! (the rollout does) or print anything itself.

pub mod payload;
pub mod resolve;
pub mod send;

use super::{Event, Report, Sink, SinkFuture};
use crate::spec::model::AlertSeverity;
use resolve::Target;
use std::time::{Duration, Instant};

/// Whether an alert entry of severity `wants` receives an alert of severity `is`.
pub fn admits(wants: AlertSeverity, is: AlertSeverity) -> bool {
    match wants {
        AlertSeverity::Info => true,
        AlertSeverity::Warn => is != AlertSeverity::Info,
        AlertSeverity::Error => is == AlertSeverity::Error,
    }
}

/// The notifier of one canary.
pub struct Notifier {
    targets: Vec<Target>,
    /// Alerts of the report already handled.
    sent: usize,
    /// The last message sent, so a gate that stays closed tick after tick is told once.
    last: Option<String>,
    /// Time for all the messages of one event.
    budget: Duration,
}

impl Notifier {
    /// The same notifier with `budget` per event.
    pub fn with_budget(self, budget: Duration) -> Notifier {
        Notifier { budget, ..self }
    }

    /// A notifier over resolved targets, given `budget` per event.
    pub fn new(targets: Vec<Target>, budget: Duration) -> Notifier {
        Notifier {
            targets,
            sent: 0,
            last: None,
            budget,
        }
    }

    async fn flush(&mut self, report: &Report) -> Result<(), String> {
        let deadline = Instant::now() + self.budget;
        let mut failures = Vec::new();
        for alert in &report.alerts[self.sent.min(report.alerts.len())..] {
            if self.last.as_deref() == Some(alert.message.as_str()) {
                continue;
            }
            self.last = Some(alert.message.clone());
            let m = payload::message(report, alert);
            for t in self
                .targets
                .iter()
                .filter(|t| admits(t.severity, alert.severity))
            {
                let body = payload::render(t.shape, &m, &t.sender);
                let post = send::Post {
                    client: &t.client,
                    url: &t.url,
                    token: t.token.as_deref(),
                    body: &body,
                    reads_ok: t.shape == payload::Shape::SlackApi,
                };
                if let Err(why) = send::post(&post, deadline).await {
                    failures.push(format!("{}: {why}", t.label));
                }
            }
        }
        self.sent = report.alerts.len();
        match failures.is_empty() {
            true => Ok(()),
            false => Err(failures.join("; ")),
        }
    }
}

impl Sink for Notifier {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn send<'a>(&'a mut self, event: Event, report: &'a mut Report) -> SinkFuture<'a> {
        Box::pin(async move {
            if self.targets.is_empty() || event == Event::Started {
                return Ok(());
            }
            self.flush(report).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertSeverity::*;

    #[test]
    fn severity_routing_is_flaggers() {
        let got: Vec<(AlertSeverity, Vec<bool>)> = [Info, Warn, Error]
            .into_iter()
            .map(|w| {
                (
                    w,
                    [Info, Warn, Error]
                        .into_iter()
                        .map(|e| admits(w, e))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Info, vec![true, true, true]),
                (Warn, vec![false, true, true]),
                (Error, vec![false, false, true]),
            ]
        );
    }
}
