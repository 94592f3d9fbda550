//! AKS: a Microsoft Entra ID token for the AKS server application (`kubelogin`'s `--server-id`),
//! by the OAuth client-credentials grant with a federated client assertion
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential>):
//! the file `AZURE_FEDERATED_TOKEN_FILE` names (workload identity), else the job's GitHub OIDC
//! token with audience `api://AzureADTokenExchange` (azure/login's federated credentials), else
//! `AZURE_CLIENT_SECRET`. The authority is `AZURE_AUTHORITY_HOST`, else the cloud kubelogin's
//! `--environment` names. Must not touch the cluster.

use super::http::endpoint;
use super::{Cloud, CloudError, Token, oidc};

/// The AKS server application every AKS cluster with Entra ID integration trusts.
pub const AKS_SERVER_ID: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// What kubelogin's arguments say, and the inputs over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aks {
    /// The resource (`--server-id`).
    pub server_id: String,
    /// The application (`--client-id` for the service-principal and workload-identity modes).
    pub client_id: Option<String>,
    /// The tenant (`--tenant-id`).
    pub tenant_id: Option<String>,
    /// The Azure cloud (`--environment`).
    pub environment: Option<String>,
    /// `--authority-host`.
    pub authority_host: Option<String>,
    /// `--federated-token-file`.
    pub federated_token_file: Option<String>,
}

/// The messages' name for this provider.
pub const WHAT: &str = "AKS token";

impl Aks {
    /// A new token for the server application.
    pub async fn token(&self, cloud: &Cloud) -> Result<Token, CloudError> {
        entra_token(cloud, WHAT, self, &format!("{}/.default", self.server_id)).await
    }

    fn client_id<'a>(&'a self, cloud: &'a Cloud) -> Option<&'a str> {
        cloud
            .settings
            .azure_client_id
            .as_deref()
            .or(cloud.env.get("AZURE_CLIENT_ID"))
            .or(self.client_id.as_deref())
    }

    fn tenant_id<'a>(&'a self, cloud: &'a Cloud) -> Option<&'a str> {
        cloud
            .settings
            .azure_tenant_id
            .as_deref()
            .or(self.tenant_id.as_deref())
            .or(cloud.env.get("AZURE_TENANT_ID"))
    }

    fn authority(&self, cloud: &Cloud) -> Result<url::Url, CloudError> {
        if let Some(host) = cloud.env.get("AZURE_AUTHORITY_HOST") {
            return endpoint(WHAT, "AZURE_AUTHORITY_HOST", host);
        }
        if let Some(host) = &self.authority_host {
            return endpoint(WHAT, "--authority-host", host);
        }
        let host = match self
            .environment
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("azurechinacloud") => "https://login.chinacloudapi.cn/",
            Some("azureusgovernmentcloud" | "azureusgovernment") => {
                "https://login.microsoftonline.us/"
            }
            _ => "https://login.microsoftonline.com/",
        };
        endpoint(WHAT, "the environment", host)
    }
}

/// A token for `scope` from Entra ID; `what` names the provider.
pub async fn entra_token(
    cloud: &Cloud,
    what: &str,
    aks: &Aks,
    scope: &str,
) -> Result<Token, CloudError> {
    let (Some(client), Some(tenant)) = (aks.client_id(cloud), aks.tenant_id(cloud)) else {
        return Err(CloudError::Invalid(format!(
            "{what}: the Entra application is unknown: set the azure-client-id and azure-tenant-id inputs (or AZURE_CLIENT_ID and AZURE_TENANT_ID)"
        )));
    };
    let mut url = aks.authority(cloud)?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    let url = url
        .join(&format!("{tenant}/oauth2/v2.0/token"))
        .map_err(|e| CloudError::Invalid(format!("{what}: tenant {tenant:?}: {e}")))?;
    let credential = credential(cloud, what, aks).await?;
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client.to_string()),
        ("scope", scope.to_string()),
    ];
    match credential {
        Credential::Assertion(a) => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", a));
        }
        Credential::Secret(s) => form.push(("client_secret", s)),
    }
    let step = format!("{what}: Entra ID token");
    let reply = cloud
        .send(
            &step,
            cloud.post_form(
                url,
                &form
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>(),
            ),
        )
        .await?;
    if !reply.ok() {
        let subject = format!("client {client}");
        return Err(reply.refused(&step, &subject, "/error", "/error_description"));
    }
    reply.access_token(cloud, &step)
}

enum Credential {
    Assertion(String),
    Secret(String),
}

/// The client's proof: a federated token file, the job's OIDC token, or a client secret.
async fn credential(cloud: &Cloud, what: &str, aks: &Aks) -> Result<Credential, CloudError> {
    let file = cloud
        .env
        .get("AZURE_FEDERATED_TOKEN_FILE")
        .or(aks.federated_token_file.as_deref());
    if let Some(file) = file {
        let token = std::fs::read_to_string(file).map_err(|e| {
            CloudError::Invalid(format!("{what}: AZURE_FEDERATED_TOKEN_FILE {file}: {e}"))
        })?;
        cloud.mask(token.trim());
        return Ok(Credential::Assertion(token.trim().to_string()));
    }
    if oidc::available(cloud) {
        return Ok(Credential::Assertion(
            oidc::token(cloud, what, "api://AzureADTokenExchange").await?,
        ));
    }
    if let Some(secret) = cloud.env.get("AZURE_CLIENT_SECRET") {
        cloud.mask(secret);
        return Ok(Credential::Secret(secret.to_string()));
    }
    Err(CloudError::Invalid(format!(
        "{what}: no Entra credential: give the job `permissions: id-token: write` (azure/login's federated credentials), or set AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET"
    )))
}
