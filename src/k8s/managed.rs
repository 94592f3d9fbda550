//! Managed clusters whose credentials canary-gate serves itself: a kubeconfig user running an
//! exec plugin it knows (the plugin's token made in process instead), and the `eks-cluster`
//! input with no kubeconfig at all. Builds the client with the bearer layer. Must not know the
//! token protocols (`cloud` does).

use super::bearer::BearerLayer;
use super::connect::{context_user, on_path};
use crate::cloud::aws::{self, Eks};
use crate::cloud::exec::{self, Plugin};
use crate::cloud::google::Google;
use crate::cloud::{Cloud, TokenSource, Tokens};
use crate::error::Error;
use crate::settings::Settings;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

/// The plugins served in process, for messages.
pub const SERVED: &str =
    "aws eks get-token, aws-iam-authenticator, gke-gcloud-auth-plugin, kubelogin";

/// The token source serving the context user's exec plugin, with the user's name, when it is a
/// plugin canary-gate knows (and the user did not ask for the plugin itself while it is on PATH).
pub fn native_plugin(
    settings: &Settings,
    cloud: &Cloud,
    kc: &Value,
    context: Option<&str>,
    origin: &str,
) -> Result<Option<(String, TokenSource)>, Error> {
    let Some(user) = context_user(kc, context) else {
        return Ok(None);
    };
    let exec = &user["user"]["exec"];
    let name = user["name"].as_str().unwrap_or_default();
    let plugin = match exec::recognise(exec) {
        None => return Ok(None),
        Some(Err(why)) => return Err(Error::Invalid(format!("{origin}: user {name:?}: {why}"))),
        Some(Ok(p)) => p,
    };
    let command = exec["command"].as_str().unwrap_or_default();
    if settings.cloud.prefer_plugin && on_path(command) {
        return Ok(None);
    }
    let provider = match plugin {
        Plugin::Eks {
            cluster,
            region,
            role_arn,
        } => TokenSource::Eks(Eks::new(cluster, region, role_arn)),
        Plugin::Gke => TokenSource::Gke(Google::from_env(cloud, "GKE token")?),
        Plugin::Aks(aks) => TokenSource::Aks(aks),
    };
    Ok(Some((name.to_string(), provider)))
}

/// Drops the exec entry of `user`, whose token canary-gate now provides.
pub fn without_exec(kc: &mut Kubeconfig, user: &str) {
    for named in kc.auth_infos.iter_mut().filter(|a| a.name == user) {
        if let Some(info) = named.auth_info.as_mut() {
            info.exec = None;
        }
    }
}

/// The `eks-cluster` input: its endpoint and CA from DescribeCluster, its token from the
/// environment's AWS credentials.
pub async fn eks(
    cloud: &Cloud,
    cluster: &str,
) -> Result<(kube::Config, Option<TokenSource>), Error> {
    let described = aws::eks::describe(cloud, cluster).await?;
    let kc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": described.endpoint,
            "certificate-authority-data": described.ca_data,
        }}],
        "users": [{"name": cluster, "user": {}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
    });
    let invalid = |e: &dyn std::fmt::Display| {
        Error::Infra(format!(
            "EKS cluster {cluster:?}: DescribeCluster's answer: {e}"
        ))
    };
    let kc: Kubeconfig = serde_json::from_value(kc).map_err(|e| invalid(&e))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| invalid(&e))?;
    let provider = TokenSource::Eks(Eks::new(cluster.to_string(), None, None));
    Ok((config, Some(provider)))
}

/// A client sending `provider`'s token, the first one fetched now so that a refusal is reported
/// as the token service's own, before any request.
pub async fn client(
    config: kube::Config,
    cloud: Cloud,
    provider: TokenSource,
) -> Result<kube::Client, Error> {
    let tokens = Tokens::new(cloud, provider);
    tokens.bearer().await?;
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| Error::Invalid(format!("kubeconfig: {e}")))?;
    Ok(builder.with_layer(&BearerLayer::new(tokens)).build())
}
