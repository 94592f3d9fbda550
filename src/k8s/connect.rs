//! Connecting to the cluster: which kubeconfig, which context, masking what it holds, and a first
//! request that proves the API answers.
//!
//! Order: the `kubeconfig` input (file content, raw YAML or base64, or a path), `KUBECONFIG`
//! (relative paths against `GITHUB_WORKSPACE`), the in-cluster service account,
//! `~/.kube/config`. Input content is parsed in memory and never written to disk. Must not decide
//! anything about canaries.

use super::managed;
use crate::cloud::{Cloud, Env, TokenSource};
use crate::error::Error;
use crate::settings::Settings;
use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A live API connection.
pub struct Connection {
    /// The client.
    pub client: kube::Client,
    /// The API server URL (for messages).
    pub server: String,
    /// The context's namespace (or `default`).
    pub namespace: String,
}

/// Where the kubeconfig came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `kubeconfig` input's content.
    Input(String),
    /// A file.
    File(PathBuf),
    /// The pod's service account.
    InCluster,
    /// No kubeconfig: the `eks-cluster` input, reached through DescribeCluster.
    Eks(String),
}

/// Keys whose values are credentials, wherever they appear in a kubeconfig.
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "client-key-data",
    "client-certificate-data",
    "id-token",
    "refresh-token",
    "access-token",
    "client-secret",
];

/// The ways a kubeconfig reaches canary-gate inside its container action (only the workspace,
/// `/github/home`, `/github/workflow` and `/github/file_commands` are mounted; no cloud CLIs).
pub const CONTAINER_WAYS: &str = "inside the canary-gate container only the workspace is mounted and no cloud CLI is installed; use one of: (1) the `kubeconfig` input with a kubeconfig from a secret (YAML or base64) whose user has a token or client certificate, (2) a kubeconfig file inside the workspace (google-github-actions/get-gke-credentials writes one there) named by the `kubeconfig` input or KUBECONFIG, (3) a self-hosted runner inside the cluster (in-cluster service account)";

/// Decides where the kubeconfig comes from, without reading the network.
pub fn source(settings: &Settings) -> Result<Source, Error> {
    if let Some(value) = &settings.kubeconfig {
        let raw = value.expose();
        let trimmed = raw.trim();
        if trimmed.contains('\n') || trimmed.starts_with("apiVersion") || trimmed.starts_with('{') {
            return Ok(Source::Input(raw.to_string()));
        }
        let path = settings.input_path(trimmed);
        if path.path.is_file() {
            return Ok(Source::File(path.path));
        }
        let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|t| t.contains("clusters"));
        return match decoded {
            Some(text) => Ok(Source::Input(text)),
            None => Err(Error::Invalid(
                "input kubeconfig: not an existing file, kubeconfig YAML or base64-encoded kubeconfig (the value is not shown)".into(),
            )),
        };
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let first = std::env::split_paths(&list).next().unwrap_or_default();
        let resolved = settings.input_path(&first.to_string_lossy());
        if resolved.path.is_file() {
            return Ok(Source::File(resolved.path));
        }
        return Err(Error::Invalid(format!(
            "KUBECONFIG points at {}, which does not exist{}",
            resolved.path.display(),
            if settings.github.is_actions() {
                format!(" here: {CONTAINER_WAYS}")
            } else {
                String::new()
            }
        )));
    }
    if let Some(cluster) = &settings.cloud.eks_cluster {
        return Ok(Source::Eks(cluster.clone()));
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return Ok(Source::InCluster);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let default = home.join(".kube").join("config");
    if default.is_file() {
        return Ok(Source::File(default));
    }
    Err(Error::Invalid(
        "no kubeconfig: set the kubeconfig input (or --kubeconfig), KUBECONFIG, or run in a cluster".into(),
    ))
}

/// Every credential value in a kubeconfig's text, for `::add-mask::`.
pub fn secret_values(text: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(s) if SECRET_KEYS.contains(&k.as_str()) && !s.is_empty() => {
                            out.push(s.clone())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_saphyr::from_str::<Value>(text) {
        walk(&v, &mut out);
    }
    out
}

/// The context's user entry (`{name, user}`).
pub(super) fn context_user<'a>(kc: &'a Value, context: Option<&str>) -> Option<&'a Value> {
    let ctx_name = context.or_else(|| kc["current-context"].as_str())?;
    let ctx = kc["contexts"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == ctx_name)?;
    let user_name = ctx["context"]["user"].as_str()?;
    kc["users"]
        .as_array()?
        .iter()
        .find(|u| u["name"] == user_name)
}

/// Whether a command is on PATH (or, with a slash, is a file).
pub(super) fn on_path(command: &str) -> bool {
    if command.contains('/') {
        return Path::new(command).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| dir.join(command).is_file()))
        .unwrap_or(false)
}

/// The exec plugin the context's user needs, when it is not on PATH.
fn missing_exec_plugin(kc: &Value, context: Option<&str>) -> Option<(String, String)> {
    let user = context_user(kc, context)?;
    let command = user["user"]["exec"]["command"].as_str()?;
    let name = user["name"].as_str().unwrap_or_default();
    (!on_path(command)).then(|| (name.to_string(), command.to_string()))
}

/// Builds the client and checks that the API answers.
pub async fn connect(settings: &Settings, context: Option<&str>) -> Result<Connection, Error> {
    let source = source(settings)?;
    let cloud = Cloud::new(
        Env::from_process(),
        settings.cloud.clone(),
        settings.masker(),
    )?;
    let (mut config, provider) = configure(settings, &cloud, &source, context).await?;
    let server = config.cluster_url.to_string();
    let namespace = config.default_namespace.clone();
    // kube's own retry of 429/503/504 is silent; ours (k8s::write) is bounded and logs each
    // retry, so an on-call engineer sees what the API server did.
    config.default_retry = false;
    let refused = match &provider {
        Some(p) => format!("refused the {} (401 Unauthorized) even after a new one: the identity has no access to this cluster", p.name()),
        None => "refused the kubeconfig's credentials (401 Unauthorized): the user's token or client certificate is invalid or expired".into(),
    };
    let client = match provider {
        None => kube::Client::try_from(config)
            .map_err(|e| Error::Invalid(format!("kubeconfig: {e}")))?,
        Some(provider) => managed::client(config, cloud, provider).await?,
    };
    probe(&client, &server, &refused).await?;
    Ok(Connection {
        client,
        server,
        namespace,
    })
}

/// The client configuration, and the cloud token source when canary-gate serves the
/// credentials itself.
async fn configure(
    settings: &Settings,
    cloud: &Cloud,
    source: &Source,
    context: Option<&str>,
) -> Result<(kube::Config, Option<TokenSource>), Error> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    match source {
        Source::InCluster => Ok((
            kube::Config::incluster()
                .map_err(|e| Error::Invalid(format!("in-cluster configuration: {e}")))?,
            None,
        )),
        Source::Eks(cluster) => managed::eks(cloud, cluster).await,
        Source::Input(text) => {
            let origin = "the kubeconfig input";
            from_text(settings, cloud, text, origin, true, context, &options).await
        }
        Source::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::ReadInput {
                path: path.display().to_string(),
                source: e,
            })?;
            let origin = path.display().to_string();
            from_text(settings, cloud, &text, &origin, false, context, &options).await
        }
    }
}

/// Reads the API server's version: a server that answers 429 or 5xx is there but busy, and is
/// retried like every other request; one that does not answer at all is reported at once.
async fn probe(client: &kube::Client, server: &str, refused: &str) -> Result<(), Error> {
    let busy = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 429 || s.code >= 500);
    let probe = || client.apiserver_version();
    let probe = super::write::with_retries_when("reading the API server's version", probe, busy);
    let server = server.to_string();
    match tokio::time::timeout(Duration::from_secs(15), probe).await {
        Ok(Ok(_)) => Ok(()),
        // It answered: not unreachable, and the answer says what is wrong.
        Ok(Err(kube::Error::Api(s))) if s.code == 401 => Err(Error::Infra(format!(
            "the Kubernetes API at {server} {refused}"
        ))),
        Ok(Err(e @ kube::Error::Api(_))) => Err(Error::Infra(format!(
            "the Kubernetes API at {server} answered {}",
            super::write::describe(&e)
        ))),
        Ok(Err(e)) => Err(Error::Unreachable {
            server,
            why: one_line(&e.to_string()),
        }),
        Err(_) => Err(Error::Unreachable {
            server,
            why: "no answer within 15s".into(),
        }),
    }
}

/// A client configuration from kubeconfig text; masks its credentials first when they came from
/// the input and the job runs under GitHub Actions. A user whose exec plugin canary-gate knows
/// gets its token source instead of the plugin.
async fn from_text(
    settings: &Settings,
    cloud: &Cloud,
    text: &str,
    origin: &str,
    from_input: bool,
    context: Option<&str>,
    options: &KubeConfigOptions,
) -> Result<(kube::Config, Option<TokenSource>), Error> {
    if from_input {
        let masker = settings.masker();
        for secret in secret_values(text) {
            masker.mask(&secret);
        }
    }
    let parsed: Value = serde_saphyr::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Error::Invalid(format!("{origin}: not a valid kubeconfig (YAML)")))?;
    check_context(&parsed, context, origin)?;
    let native = managed::native_plugin(settings, cloud, &parsed, context, origin)?;
    if native.is_none()
        && let Some((user, command)) = missing_exec_plugin(&parsed, context)
    {
        let how = if settings.github.is_actions() {
            CONTAINER_WAYS.to_string()
        } else {
            "install it, or pass a kubeconfig with a token (e.g. from a service account)".into()
        };
        return Err(Error::Invalid(format!(
            "{origin}: user {user:?} authenticates with the exec plugin {command:?}, which is not on PATH and not one canary-gate serves itself ({}); {how}",
            managed::SERVED
        )));
    }
    // The parsers' messages can quote the text (a snippet under the first line): one line, and
    // never a credential.
    let invalid = |e: &dyn std::fmt::Display| {
        let mut line = one_line(&e.to_string());
        // (Not a value so short it would mangle the words around it.)
        for secret in secret_values(text).iter().filter(|s| s.len() >= 6) {
            line = line.replace(secret.as_str(), "***");
        }
        Error::Invalid(format!("{origin}: {line}"))
    };
    let mut kc = Kubeconfig::from_yaml(text).map_err(|e| invalid(&e))?;
    let provider = native.map(|(user, provider)| {
        managed::without_exec(&mut kc, &user);
        provider
    });
    let config = kube::Config::from_custom_kubeconfig(kc, options)
        .await
        .map_err(|e| invalid(&e))?;
    Ok((config, provider))
}

/// The context to use must be one the kubeconfig has: name it and list those it has.
fn check_context(kc: &Value, context: Option<&str>, origin: &str) -> Result<(), Error> {
    let names: Vec<&str> = kc["contexts"]
        .as_array()
        .map(|list| list.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let has = if names.is_empty() {
        "it has none".to_string()
    } else {
        format!("it has: {}", names.join(", "))
    };
    let (what, wanted) = match context {
        Some(c) => ("--context", c),
        None => match kc["current-context"].as_str().filter(|c| !c.is_empty()) {
            Some(c) => ("current-context", c),
            None => {
                return Err(Error::Invalid(format!(
                    "{origin}: no current-context is set: pass --context ({has})"
                )));
            }
        },
    };
    if names.contains(&wanted) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{origin}: {what} {wanted:?} is not a context of the kubeconfig ({has})"
    )))
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_anywhere() {
        let kc = "users:\n- name: a\n  user:\n    token: abc\n- name: b\n  user:\n    client-key-data: KEY\n    auth-provider:\n      config:\n        id-token: IDT\n";
        let mut found = secret_values(kc);
        found.sort();
        assert_eq!(found, vec!["IDT", "KEY", "abc"]);
    }

    #[test]
    fn names_a_missing_exec_plugin() {
        let kc: Value = serde_saphyr::from_str(
            "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: gke-gcloud-auth-plugin-not-here\n",
        )
        .unwrap();
        assert_eq!(
            missing_exec_plugin(&kc, None),
            Some(("u".into(), "gke-gcloud-auth-plugin-not-here".into()))
        );
    }
}
