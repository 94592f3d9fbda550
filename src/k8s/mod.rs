//! The cluster edge: connection and auth, the one write helper, initialization as data
//! (`desired.rs`: the steps, the read port, applying one object), the state store and run lock,
//! and Events. Must not decide anything about rollouts (that is `rollout/`).

pub mod connect;
pub mod desired;
pub mod events;
pub mod lock;
pub mod state_store;
pub mod write;

pub use connect::{Connection, connect};

use crate::spec::model::MetricTemplate;

/// Annotation marking objects canary-gate created for a canary (`<namespace>/<name>`); "owned"
/// means this annotation.
pub const OWNER_ANNOTATION: &str = "canary-gate.dev/canary";
/// Label on every object canary-gate creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "canary-gate");

/// The `<namespace>/<name>` id of a canary.
pub fn canary_id(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A MetricTemplate object from the cluster (any namespace), validated like one from a file.
pub async fn read_template(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<MetricTemplate, String> {
    use kube::api::{ApiResource, DynamicObject};
    use kube::core::GroupVersionKind;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("flagger.app", "v1beta1", "MetricTemplate"),
        "metrictemplates",
    );
    let api: kube::Api<DynamicObject> =
        kube::Api::namespaced_with(client.clone(), namespace, &resource);
    let obj = api
        .get_opt(name)
        .await
        .map_err(|e| {
            format!(
                "reading MetricTemplate {namespace}/{name}: {}",
                crate::k8s::write::describe(&e)
            )
        })?
        .ok_or_else(|| {
            format!(
                "MetricTemplate {namespace}/{name} is neither in the spec files nor in the cluster"
            )
        })?;
    let text = serde_json::to_string(&obj).map_err(|e| e.to_string())?;
    let source = format!("metrictemplate/{namespace}/{name} (cluster)");
    let loaded = crate::spec::load(&[crate::spec::Source {
        name: source.clone(),
        text,
    }]);
    if let Some(d) = loaded
        .diagnostics
        .iter()
        .find(|d| d.severity == crate::spec::Severity::Error)
    {
        return Err(format!("{source}: {}", d.text()));
    }
    loaded
        .templates
        .into_iter()
        .next()
        .ok_or_else(|| format!("{source}: not a MetricTemplate"))
}
