//! What each chat platform is sent for one alert, as pure renders: Slack (incoming webhook and
//! `chat.postMessage`), Discord's Slack-compatible endpoint, Rocket.Chat, Google Chat and
//! Microsoft Teams (Workflows' Adaptive Card, or the legacy connector's MessageCard). The shapes
//! follow each platform's documentation, cited at each render; `fixtures/notify/` holds a JSON
//! schema per platform written from the same pages. No I/O.

use crate::report::{AlertRecord, Report};
use crate::rollout::{Plan, Strategy};
use crate::spec::model::{AlertProviderType, AlertSeverity};
use serde_json::{Value, json};

/// One alert, ready to render.
#[derive(Clone, Debug)]
pub struct Message {
    /// `<canary>.<namespace>`, as Flagger titles its alerts.
    pub title: String,
    /// What happened.
    pub text: String,
    /// How bad it is (colours the message).
    pub severity: AlertSeverity,
    /// `(title, value)` pairs: where the canary stands, the failing check, the links.
    pub fields: Vec<(String, String)>,
}

/// Where a message goes, as far as its shape depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A Slack incoming webhook.
    SlackWebhook,
    /// Slack's `chat.postMessage` (a bot token).
    SlackApi,
    /// Discord's Slack-compatible endpoint.
    Discord,
    /// A Rocket.Chat incoming integration.
    Rocket,
    /// A Google Chat incoming webhook.
    GoogleChat,
    /// A Teams Workflows ("when a Teams webhook request is received") trigger.
    TeamsWorkflow,
    /// A retired Office 365 connector URL.
    TeamsConnector,
}

impl Shape {
    /// The shape for a provider type and its address: Slack's Web API (`slack.com`, or a path
    /// ending in `/chat.postMessage`) means `chat.postMessage`; a Teams connector address
    /// (`*.webhook.office.com`, `outlook.office.com`, an `/IncomingWebhook/` path) is a legacy
    /// connector, anything else a Workflows trigger.
    pub fn of(kind: AlertProviderType, address: &url::Url) -> Shape {
        let host = address.host_str().unwrap_or_default();
        let path = address.path();
        match kind {
            AlertProviderType::Slack
                if host == "slack.com" || path.ends_with("/chat.postMessage") =>
            {
                Shape::SlackApi
            }
            AlertProviderType::Slack => Shape::SlackWebhook,
            AlertProviderType::Discord => Shape::Discord,
            AlertProviderType::Rocket => Shape::Rocket,
            AlertProviderType::Gchat => Shape::GoogleChat,
            AlertProviderType::Msteams
                if host.ends_with("webhook.office.com")
                    || host == "outlook.office.com"
                    || path.contains("/IncomingWebhook/") =>
            {
                Shape::TeamsConnector
            }
            AlertProviderType::Msteams => Shape::TeamsWorkflow,
        }
    }
}

/// The sender's name and channel (`None`: the webhook's own).
#[derive(Clone, Debug, Default)]
pub struct Sender {
    /// `username`.
    pub username: Option<String>,
    /// `channel`.
    pub channel: Option<String>,
}

/// The canary's set-up, as Flagger's detailed alerts show it.
pub fn setup(plan: &Plan, namespace: &str) -> Vec<(String, String)> {
    let t = &plan.target;
    let mut out = vec![
        (
            "Target".to_string(),
            format!("{:?}/{}.{namespace}", t.kind, t.name),
        ),
        (
            "Failed checks threshold".into(),
            plan.threshold.max(1).to_string(),
        ),
        (
            "Progress deadline".into(),
            format!("{}s", plan.progress_deadline.as_secs()),
        ),
    ];
    let routing = match &plan.strategy {
        Strategy::AbTesting { .. } => "A/B Testing".to_string(),
        Strategy::BlueGreen { .. } => "Blue/Green".to_string(),
        Strategy::Canary {
            step_weight,
            max_weight,
            ..
        } if *step_weight > 0 => format!("Weight step: {step_weight} max: {max_weight}"),
        Strategy::Canary {
            step_weights,
            max_weight,
            ..
        } => {
            let list: Vec<String> = step_weights.iter().map(u32::to_string).collect();
            format!("Weight steps: {} max: {max_weight}", list.join(","))
        }
    };
    out.push(("Traffic routing".into(), routing));
    out
}

/// The message of `alert` about the canary of `report`: where it stands, the check that failed
/// last (its value and range), the revision, and the links to the check run and workflow run.
pub fn message(report: &Report, alert: &AlertRecord) -> Message {
    let (namespace, name) = report
        .subject
        .split_once('/')
        .unwrap_or(("", report.subject.as_str()));
    let mut fields = if alert.details {
        report.setup.clone()
    } else {
        Vec::new()
    };
    if let Some(phase) = alert.phase {
        fields.push(("Phase".into(), phase.kebab().to_string()));
    }
    fields.push(("Canary weight".into(), format!("{}%", alert.weight)));
    let failing = report
        .steps
        .iter()
        .rev()
        .flat_map(|s| s.metrics.iter())
        .find(|m| !m.passed);
    if let Some(m) = failing {
        fields.push(("Failing check".into(), metric_line(m)));
    }
    if let Some(r) = &report.revision {
        fields.push(("Revision".into(), r.clone()));
    }
    if let Some(u) = &report.check_run_url {
        fields.push(("Check run".into(), u.clone()));
    }
    if let Some(u) = &report.run_url {
        fields.push(("Workflow run".into(), u.clone()));
    }
    Message {
        title: format!("{name}.{namespace}"),
        text: alert.message.clone(),
        severity: alert.severity,
        fields,
    }
}

/// `request-success-rate: 50.00 (range: min 99)`, or the reason when there is no value.
fn metric_line(m: &crate::rollout::MetricRecord) -> String {
    let value = m
        .value
        .map_or_else(|| "no value".to_string(), |v| format!("{v:.2}"));
    let range = match (m.min, m.max) {
        (Some(lo), Some(hi)) => format!("min {lo} max {hi}"),
        (Some(lo), None) => format!("min {lo}"),
        (None, Some(hi)) => format!("max {hi}"),
        (None, None) => "none".into(),
    };
    let mut line = format!("{}: {value} (range: {range})", m.name);
    if let Some(why) = &m.reason {
        line.push_str(&format!(": {why}"));
    }
    line
}

/// The body to send.
pub fn render(shape: Shape, m: &Message, sender: &Sender) -> Value {
    match shape {
        Shape::SlackWebhook | Shape::SlackApi => slack(m, sender, shape == Shape::SlackApi),
        Shape::Discord => discord(m, sender),
        Shape::Rocket => rocket(m, sender),
        Shape::GoogleChat => google_chat(m),
        Shape::TeamsWorkflow => teams_workflow(m),
        Shape::TeamsConnector => teams_connector(m),
    }
}

/// `normal`, or `error` for an error.
fn by_severity(m: &Message, normal: &'static str, error: &'static str) -> &'static str {
    if m.severity == AlertSeverity::Error {
        error
    } else {
        normal
    }
}

/// `{text, attachments: [a]}`: the fallback text and one Slack-style attachment.
fn with_attachment(m: &Message, a: Value) -> Value {
    json!({"text": fallback(m), "attachments": [a]})
}

/// Sets `key` when there is a value.
fn set(body: &mut Value, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        body[key] = json!(v);
    }
}

fn fallback(m: &Message) -> String {
    format!("{}: {}", m.title, m.text)
}

/// A Slack-style attachment (Slack, Discord's Slack endpoint and Rocket.Chat read it).
fn attachment(m: &Message, color: &str) -> Value {
    let fields: Vec<Value> = m
        .fields
        .iter()
        .map(|(t, v)| json!({"title": t, "value": v, "short": false}))
        .collect();
    json!({"color": color, "author_name": m.title, "text": m.text, "fields": fields})
}

/// Slack: `text` (the notification fallback) and one legacy attachment, as Flagger sends;
/// `chat.postMessage` requires `channel` (<https://docs.slack.dev/reference/methods/chat.postMessage>),
/// an incoming webhook posts where it was installed and ignores it
/// (<https://api.slack.com/messaging/webhooks>, <https://api.slack.com/reference/messaging/attachments>).
fn slack(m: &Message, sender: &Sender, api: bool) -> Value {
    let mut a = attachment(m, by_severity(m, "good", "danger"));
    a["mrkdwn_in"] = json!(["text"]);
    let mut body = with_attachment(m, a);
    body["icon_emoji"] = json!(":rocket:");
    let channel = sender
        .channel
        .clone()
        .or_else(|| api.then(|| "general".to_string()));
    set(&mut body, "channel", &channel);
    set(&mut body, "username", &sender.username);
    body
}

/// Discord's Slack-compatible endpoint takes Slack's body without `channel`, `icon_emoji` and
/// `mrkdwn_in`, which it does not support
/// (<https://discord.com/developers/docs/resources/webhook#execute-slackcompatible-webhook>).
fn discord(m: &Message, sender: &Sender) -> Value {
    let mut body = with_attachment(m, attachment(m, by_severity(m, "good", "danger")));
    set(&mut body, "username", &sender.username);
    body
}

/// Rocket.Chat's incoming integration: `text`, `alias` (the sender's name), `channel` only when
/// set (the integration refuses an override it does not allow), Slack-style attachments
/// (<https://docs.rocket.chat/docs/integrations>).
fn rocket(m: &Message, sender: &Sender) -> Value {
    let mut body = with_attachment(m, attachment(m, by_severity(m, "#0076D7", "#FF0000")));
    set(&mut body, "alias", &sender.username);
    set(&mut body, "channel", &sender.channel);
    body
}

/// Google Chat: a `cardsV2` card with a header and one section of decorated texts, and `text`
/// for notifications (<https://developers.google.com/workspace/chat/quickstart/webhooks>,
/// <https://developers.google.com/workspace/chat/api/reference/rest/v1/cards>).
fn google_chat(m: &Message) -> Value {
    let mut widgets = vec![json!({"textParagraph": {"text": format!("<b>{}</b>", m.text)}})];
    widgets.extend(
        m.fields
            .iter()
            .map(|(t, v)| json!({"decoratedText": {"topLabel": t, "text": v}})),
    );
    json!({
        "text": fallback(m),
        "cardsV2": [{"cardId": "canary-gate", "card": {
            "header": {"title": m.title, "subtitle": "canary-gate"},
            "sections": [{"widgets": widgets}],
        }}],
    })
}

/// Teams Workflows: a `message` with one Adaptive Card attachment (version 1.4, which the
/// Workflows post renders) holding the title, the text and a fact set
/// (<https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook>,
/// <https://adaptivecards.io/explorer/FactSet.html>).
fn teams_workflow(m: &Message) -> Value {
    let color = by_severity(m, "Good", "Attention");
    let facts: Vec<Value> = m
        .fields
        .iter()
        .map(|(t, v)| json!({"title": t, "value": v}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium", "color": color},
                    {"type": "TextBlock", "text": m.text, "wrap": true},
                    {"type": "FactSet", "facts": facts},
                ],
            },
        }],
    })
}

/// A legacy Office 365 connector: Flagger's MessageCard
/// (<https://learn.microsoft.com/en-us/outlook/actionable-messages/message-card-reference>).
fn teams_connector(m: &Message) -> Value {
    let color = by_severity(m, "0076D7", "FF0000");
    let facts: Vec<Value> = m
        .fields
        .iter()
        .map(|(t, v)| json!({"name": t, "value": v}))
        .collect();
    json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": color,
        "summary": m.title,
        "sections": [{"activityTitle": m.text, "activitySubtitle": m.title, "facts": facts}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> url::Url {
        url::Url::parse(u).unwrap()
    }

    #[test]
    fn the_shape_follows_the_type_and_the_address() {
        use AlertProviderType as T;
        assert_eq!(
            Shape::of(T::Slack, &url("https://slack.com/api/chat.postMessage")),
            Shape::SlackApi
        );
        assert_eq!(
            Shape::of(T::Slack, &url("https://hooks.slack.com/services/T/B/X")),
            Shape::SlackWebhook
        );
        assert_eq!(
            Shape::of(
                T::Msteams,
                &url("https://acme.webhook.office.com/webhookb2/x")
            ),
            Shape::TeamsConnector
        );
        assert_eq!(
            Shape::of(
                T::Msteams,
                &url(
                    "https://prod-1.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke"
                )
            ),
            Shape::TeamsWorkflow
        );
    }
}
