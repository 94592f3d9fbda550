//! Kubernetes Events on the target workload, one per transition, so `kubectl describe` tells the
//! story too. Recording is best effort: a failure is a warning, never an abort.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};

/// The object an event is about.
pub struct Involved<'a> {
    /// `apps/v1`.
    pub api_version: &'a str,
    /// `Deployment`.
    pub kind: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// UID, when known.
    pub uid: Option<String>,
}

/// Records `reason` / `message` (type `Normal` or `Warning`).
pub async fn record(
    client: &kube::Client,
    about: &Involved<'_>,
    kind: &str,
    reason: &str,
    message: &str,
) {
    let now = k8s_openapi::jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", about.name)),
            namespace: Some(about.namespace.to_string()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(about.api_version.to_string()),
            kind: Some(about.kind.to_string()),
            name: Some(about.name.to_string()),
            namespace: Some(about.namespace.to_string()),
            uid: about.uid.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        type_: Some(kind.to_string()),
        source: Some(EventSource {
            component: Some("canary-gate".into()),
            host: None,
        }),
        reporting_component: Some("canary-gate".into()),
        reporting_instance: Some("canary-gate".into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(reason.to_string()),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), about.namespace);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(
            "recording event {reason} on {}/{}: {}",
            about.kind,
            about.name,
            super::write::describe(&e)
        );
    }
}
