//! Where a canary's alerts go: each `analysis.alerts[]` entry's AlertProvider, from the spec
//! files first, then the cluster (in `providerRef.namespace`, else the canary's), with its
//! Secret's `address`, `token`, `proxy`, `username` and `channel` over the provider's own
//! fields. Every address and token is masked as soon as it is known. A provider that cannot be
//! resolved is a warning: alerts never stop a rollout.

use super::payload::{Sender, Shape};
use crate::report::console::Masker;
use crate::spec::model::{AlertProvider, AlertSeverity, Canary};
use std::collections::BTreeMap;

/// One alert entry, resolved.
pub struct Target {
    /// `<alert name> → <provider kind>/<provider name>`, for warnings (never the address).
    pub label: String,
    /// The least severe alert it receives.
    pub severity: AlertSeverity,
    /// Where the body is posted (a credential).
    pub url: url::Url,
    /// A bearer token (Slack's Web API).
    pub token: Option<String>,
    /// The body's shape.
    pub shape: Shape,
    /// Sender name and channel.
    pub sender: Sender,
    /// The client, through the provider's proxy when it has one.
    pub client: reqwest::Client,
}

/// What resolving found: the targets, and a warning per entry that cannot be sent to.
pub struct Resolved {
    /// The targets, in the spec's order.
    pub targets: Vec<Target>,
    /// Why an entry was left out.
    pub warnings: Vec<String>,
}

/// Resolves every alert of `canary` (in `namespace`), `files` being the spec files' providers.
pub async fn targets(
    canary: &Canary,
    namespace: &str,
    files: &[AlertProvider],
    client: &kube::Client,
    masker: &Masker,
) -> Resolved {
    let mut out = Resolved {
        targets: Vec::new(),
        warnings: Vec::new(),
    };
    for a in &canary.analysis.alerts {
        let ns = a.provider.namespace.as_deref().unwrap_or(namespace);
        let label = format!(
            "alert {:?} (AlertProvider {ns}/{})",
            a.name, a.provider.name
        );
        let provider = match in_files(files, &a.provider.name, ns) {
            Some(p) => Ok(p.clone()),
            None => crate::k8s::read_alert_provider(client, ns, &a.provider.name).await,
        };
        let resolved = match provider {
            Ok(p) => target(&p, ns, a.severity, &label, client, masker).await,
            Err(why) => Err(why),
        };
        match resolved {
            Ok(t) => out.targets.push(t),
            Err(why) => out
                .warnings
                .push(format!("{label}: {why}; it gets no messages")),
        }
    }
    out
}

fn in_files<'a>(files: &'a [AlertProvider], name: &str, ns: &str) -> Option<&'a AlertProvider> {
    files
        .iter()
        .find(|p| p.name == name && p.namespace.as_deref().is_none_or(|n| n == ns))
}

/// One provider made ready to post to.
async fn target(
    p: &AlertProvider,
    ns: &str,
    severity: AlertSeverity,
    label: &str,
    client: &kube::Client,
    masker: &Masker,
) -> Result<Target, String> {
    let secret = match &p.secret {
        Some(name) => read_secret(client, ns, name, masker).await?,
        None => BTreeMap::new(),
    };
    let pick = |key: &str, own: &Option<String>| secret.get(key).cloned().or_else(|| own.clone());
    let address = pick("address", &p.address).ok_or_else(|| {
        "no address (neither spec.address nor the Secret's address key)".to_string()
    })?;
    masker.mask(&address);
    let mut url = url::Url::parse(&address).map_err(|_| "its address is not a URL".to_string())?;
    if p.kind == crate::spec::model::AlertProviderType::Discord && !url.path().ends_with("/slack") {
        // Discord's Slack-compatible endpoint, as Flagger posts to.
        let path = format!("{}/slack", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    let proxy = pick("proxy", &p.proxy);
    let mut builder = reqwest::Client::builder();
    if let Some(proxy) = &proxy {
        masker.mask_url(proxy);
        let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(|_| "its proxy is not a URL")?;
        builder = builder.proxy(proxy);
    }
    let http = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
    Ok(Target {
        label: label.to_string(),
        severity,
        shape: Shape::of(p.kind, &url),
        url,
        token: secret.get("token").cloned(),
        sender: Sender {
            username: pick("username", &p.username),
            channel: pick("channel", &p.channel),
        },
        client: http,
    })
}

/// The Secret's text values; the credentials among them (`address`, `token`, `proxy`) masked as
/// soon as read.
async fn read_secret(
    client: &kube::Client,
    ns: &str,
    name: &str,
    masker: &Masker,
) -> Result<BTreeMap<String, String>, String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), ns);
    let s = api.get(name).await.map_err(|e| {
        format!(
            "reading secret/{name} in {ns}: {}",
            crate::k8s::write::describe(&e)
        )
    })?;
    let mut out = BTreeMap::new();
    for (k, v) in s.data.unwrap_or_default() {
        let text = String::from_utf8_lossy(&v.0).trim().to_string();
        if matches!(k.as_str(), "address" | "token" | "proxy") {
            masker.mask(&text);
        }
        out.insert(k, text);
    }
    Ok(out)
}
