//! The cluster edge: connection and auth, the one write helper, initialization as data
//! (`desired.rs`: the steps, the read port, applying one object), the state store and run lock,
//! and Events. Must not decide anything about rollouts (that is `rollout/`).

pub mod bearer;
pub mod connect;
pub mod desired;
pub mod events;
pub mod lock;
pub mod managed;
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
    let (loaded, source) = read_flagger(client, namespace, name, "MetricTemplate").await?;
    loaded
        .templates
        .into_iter()
        .next()
        .ok_or_else(|| format!("{source}: not a MetricTemplate"))
}

/// An AlertProvider object from the cluster (any namespace), validated like one from a file.
pub async fn read_alert_provider(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<crate::spec::model::AlertProvider, String> {
    let (loaded, source) = read_flagger(client, namespace, name, "AlertProvider").await?;
    let mut p = loaded
        .alert_providers
        .into_iter()
        .next()
        .ok_or_else(|| format!("{source}: not an AlertProvider"))?;
    p.origin = None;
    p.namespace.get_or_insert_with(|| namespace.to_string());
    Ok(p)
}

/// A `flagger.app/v1beta1` object of `kind` from the cluster, read through the spec loader (its
/// errors are the loader's), with the name it is shown under.
async fn read_flagger(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    kind: &str,
) -> Result<(crate::spec::Loaded, String), String> {
    use kube::api::{ApiResource, DynamicObject};
    use kube::core::GroupVersionKind;
    let plural = format!("{}s", kind.to_lowercase());
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("flagger.app", "v1beta1", kind),
        &plural,
    );
    let api: kube::Api<DynamicObject> =
        kube::Api::namespaced_with(client.clone(), namespace, &resource);
    let obj = api
        .get_opt(name)
        .await
        .map_err(|e| {
            format!(
                "reading {kind} {namespace}/{name}: {}",
                crate::k8s::write::describe(&e)
            )
        })?
        .ok_or_else(|| {
            format!("{kind} {namespace}/{name} is neither in the spec files nor in the cluster")
        })?;
    let text = serde_json::to_string(&obj).map_err(|e| e.to_string())?;
    let source = format!("{}/{namespace}/{name} (cluster)", kind.to_lowercase());
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
    Ok((loaded, source))
}
