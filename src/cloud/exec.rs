//! Recognising the exec credential plugins canary-gate serves in process, from a kubeconfig
//! user's `exec` entry (command, args, env), and the provider each one means:
//! - `aws eks get-token --cluster-name N [--region R] [--role-arn A]`
//!   (<https://docs.aws.amazon.com/cli/latest/reference/eks/get-token.html>);
//! - `aws-iam-authenticator token -i N [-r A] [--region R]`;
//! - `gke-gcloud-auth-plugin`;
//! - `kubelogin get-token --server-id S [--login M] [--client-id C] [--tenant-id T]
//!   [--environment E] [--federated-token-file F] [--authority-host H]`
//!   (<https://azure.github.io/kubelogin/cli/get-token.html>).
//!
//! Anything else is not recognised. Must not fetch anything.

use super::azure::{AKS_SERVER_ID, Aks};
use serde_json::Value;

/// A recognised plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plugin {
    /// An EKS token.
    Eks {
        /// Cluster name.
        cluster: String,
        /// Region.
        region: Option<String>,
        /// A role to assume first.
        role_arn: Option<String>,
    },
    /// A Google access token.
    Gke,
    /// An Entra ID token.
    Aks(Aks),
}

/// The plugin an `exec` entry runs, when canary-gate knows it; `Err` names what is missing.
pub fn recognise(exec: &Value) -> Option<Result<Plugin, String>> {
    let command = exec["command"].as_str()?;
    let base = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let base = base.trim_end_matches(".exe");
    let args: Vec<&str> = exec["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let env = |name: &str| {
        exec["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .map(str::to_string)
    };
    let flag = |names: &[&str]| flag(&args, names);
    match base {
        "aws"
            if args
                .iter()
                .position(|a| *a == "eks")
                .is_some_and(|i| args.get(i + 1) == Some(&"get-token")) =>
        {
            Some(eks(
                flag(&["--cluster-name", "--cluster-id"]),
                flag(&["--region"]).or_else(|| env("AWS_REGION")),
                flag(&["--role-arn"]),
                "aws eks get-token: --cluster-name",
            ))
        }
        "aws-iam-authenticator" if args.first() == Some(&"token") => Some(eks(
            flag(&["-i", "--cluster-id"]),
            flag(&["--region"]).or_else(|| env("AWS_REGION")),
            flag(&["-r", "--role"]),
            "aws-iam-authenticator token: -i",
        )),
        "gke-gcloud-auth-plugin" => Some(Ok(Plugin::Gke)),
        "kubelogin" if args.first() == Some(&"get-token") => Some(Ok(Plugin::Aks(aks(&args)))),
        _ => None,
    }
}

fn eks(
    cluster: Option<String>,
    region: Option<String>,
    role_arn: Option<String>,
    needs: &str,
) -> Result<Plugin, String> {
    match cluster {
        Some(cluster) => Ok(Plugin::Eks {
            cluster,
            region,
            role_arn,
        }),
        None => Err(format!("{needs} is missing")),
    }
}

fn aks(args: &[&str]) -> Aks {
    let flag = |names: &[&str]| flag(args, names);
    let login = flag(&["--login", "-l"]).unwrap_or_else(|| "devicecode".into());
    // The interactive modes' --client-id is kubectl's public client, not the job's application.
    let own_client = matches!(login.as_str(), "spn" | "workloadidentity" | "msi");
    Aks {
        server_id: flag(&["--server-id"]).unwrap_or_else(|| AKS_SERVER_ID.into()),
        client_id: flag(&["--client-id"]).filter(|_| own_client),
        tenant_id: flag(&["--tenant-id", "-t"]),
        environment: flag(&["--environment", "-e"]),
        authority_host: flag(&["--authority-host"]),
        federated_token_file: flag(&["--federated-token-file"]),
    }
}

/// The value of the first of `names` (`--name value` or `--name=value`).
fn flag(args: &[&str], names: &[&str]) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        names.iter().find_map(|n| match a.strip_prefix(n) {
            Some("") => args.get(i + 1).map(|v| v.to_string()),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_the_plugins_of_each_cloud() {
        let aws = json!({"command": "aws", "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod", "--output", "json", "--role-arn=arn:aws:iam::1:role/deploy"]});
        assert_eq!(
            recognise(&aws),
            Some(Ok(Plugin::Eks {
                cluster: "prod".into(),
                region: Some("eu-west-1".into()),
                role_arn: Some("arn:aws:iam::1:role/deploy".into())
            }))
        );
        let iam = json!({"command": "/usr/local/bin/aws-iam-authenticator", "args": ["token", "-i", "prod"], "env": [{"name": "AWS_REGION", "value": "us-west-2"}]});
        assert_eq!(
            recognise(&iam),
            Some(Ok(Plugin::Eks {
                cluster: "prod".into(),
                region: Some("us-west-2".into()),
                role_arn: None
            }))
        );
        assert_eq!(
            recognise(&json!({"command": "gke-gcloud-auth-plugin"})),
            Some(Ok(Plugin::Gke))
        );
        let kubelogin = json!({"command": "kubelogin", "args": ["get-token", "--login", "azurecli", "--server-id", "abc", "--client-id", "public", "--tenant-id", "t1"]});
        let Some(Ok(Plugin::Aks(aks))) = recognise(&kubelogin) else {
            panic!("kubelogin")
        };
        assert_eq!(
            (
                aks.server_id.as_str(),
                aks.client_id,
                aks.tenant_id.as_deref()
            ),
            ("abc", None, Some("t1"))
        );
        let spn = json!({"command": "kubelogin", "args": ["get-token", "-l", "spn", "--client-id", "app"]});
        let Some(Ok(Plugin::Aks(aks))) = recognise(&spn) else {
            panic!("spn")
        };
        assert_eq!(
            (aks.server_id.as_str(), aks.client_id.as_deref()),
            (AKS_SERVER_ID, Some("app"))
        );
    }

    #[test]
    fn others_are_left_alone_and_gaps_named() {
        assert_eq!(
            recognise(&json!({"command": "oidc-login", "args": ["get-token"]})),
            None
        );
        assert_eq!(
            recognise(&json!({"command": "aws", "args": ["sts", "get-caller-identity"]})),
            None
        );
        assert_eq!(
            recognise(&json!({"command": "aws", "args": ["eks", "get-token"]})),
            Some(Err("aws eks get-token: --cluster-name is missing".into()))
        );
    }
}
