//! EKS: the Kubernetes bearer token, and the cluster's endpoint when there is no kubeconfig.
//!
//! The token is what `aws eks get-token` and `aws-iam-authenticator token` print: `k8s-aws-v1.`
//! followed by the unpadded base64url of a presigned STS `GetCallerIdentity` URL whose signed
//! headers include `x-k8s-aws-id: <cluster name>`, presigned for 60 s; EKS accepts it for 15
//! minutes after its `X-Amz-Date`, and the CLI reports it as expiring after 14
//! (<https://docs.aws.amazon.com/cli/latest/reference/eks/get-token.html>,
//! <https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster>).
//! `DescribeCluster` is `GET /clusters/<name>` on the EKS API, SigV4-signed for `eks`
//! (<https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html>). Must not
//! build the Kubernetes client.

use super::sigv4::{self, Credentials, Signing};
use super::{Aws, region, sts};
use crate::cloud::{Cloud, CloudError, Token};
use base64::Engine;
use std::time::{Duration, SystemTime};

/// How long a token is used: EKS accepts it for 15 minutes; 14 leaves a minute in hand.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);

/// The presigned URL's own expiry, as the AWS CLI sets it.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);

const WHAT: &str = "EKS token";

/// An EKS cluster's token source.
pub struct Eks {
    /// The cluster name (`x-k8s-aws-id`).
    pub cluster: String,
    /// The region given by the kubeconfig, if any.
    pub region: Option<String>,
    aws: Aws,
}

impl Eks {
    /// Tokens for `cluster`, assuming `role_arn` first when given.
    pub fn new(cluster: String, region: Option<String>, role_arn: Option<String>) -> Eks {
        Eks {
            cluster,
            region,
            aws: Aws::new(role_arn),
        }
    }

    /// A new token.
    pub async fn token(&self, cloud: &Cloud) -> Result<Token, CloudError> {
        let region = region(cloud, self.region.as_deref());
        let creds = self.aws.get(cloud, WHAT, region.as_deref()).await?;
        let (sts, sts_region) = sts(cloud, WHAT, region.as_deref())?;
        let value = token(&creds, &self.cluster, &sts, &sts_region, SystemTime::now())
            .map_err(|e| CloudError::Invalid(format!("{WHAT}: presigning: {e}")))?;
        Ok(Token::new(value, TOKEN_LIFETIME))
    }
}

/// The token for `cluster` from `creds` at `time`, against the STS endpoint `sts`.
pub fn token(
    creds: &Credentials,
    cluster: &str,
    sts: &url::Url,
    region: &str,
    time: SystemTime,
) -> Result<String, String> {
    let mut url = sts.clone();
    url.set_query(Some("Action=GetCallerIdentity&Version=2011-06-15"));
    let headers = [("x-k8s-aws-id", cluster)];
    let req = sigv4::Request {
        method: "GET",
        url: url.as_str(),
        headers: &headers,
        body: b"",
    };
    let how = Signing {
        time,
        presign: Some(PRESIGN_EXPIRY),
        ..Signing::new(region, "sts")
    };
    let signed = sigv4::sign(creds, &req, &how)?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.url.as_bytes());
    Ok(format!("k8s-aws-v1.{encoded}"))
}

/// A cluster's API endpoint and CA bundle (base64 PEM, as a kubeconfig holds it).
pub struct Described {
    /// `https://….eks.amazonaws.com`.
    pub endpoint: String,
    /// `certificateAuthority.data`.
    pub ca_data: String,
}

/// `DescribeCluster` for the `eks-cluster` input, with the credentials the environment gives.
pub async fn describe(cloud: &Cloud, name: &str) -> Result<Described, CloudError> {
    let what = "EKS cluster";
    let Some(region) = region(cloud, None) else {
        return Err(CloudError::Invalid(format!(
            "{what}: eks-cluster {name:?} needs a region: set the aws-region input or AWS_REGION"
        )));
    };
    let creds = Aws::new(None).get(cloud, what, Some(&region)).await?;
    let mut url = super::endpoint(cloud, what, "eks", &region)?;
    let shown = url.to_string();
    url.path_segments_mut()
        .map_err(|_| {
            CloudError::Invalid(format!(
                "{what}: the EKS endpoint {shown} cannot take a path"
            ))
        })?
        .pop_if_empty()
        .extend(["clusters", name]);
    let req = sigv4::Request {
        method: "GET",
        url: url.as_str(),
        headers: &[],
        body: b"",
    };
    let signed = sigv4::sign(&creds, &req, &Signing::new(&region, "eks"))
        .map_err(|e| CloudError::Invalid(format!("{what}: signing DescribeCluster: {e}")))?;
    let mut get = cloud.client().get(url.as_str());
    for (k, v) in &signed.headers {
        get = get.header(k, v);
    }
    let step = format!("{what}: DescribeCluster");
    let reply = cloud.send(&step, get).await?;
    if !reply.ok() {
        let subject = format!("cluster {name:?} in {region}");
        return Err(reply.refused(&step, &subject, "/__type", "/message"));
    }
    let body = reply.json();
    let cluster = &body["cluster"];
    match (
        cluster["endpoint"].as_str(),
        cluster["certificateAuthority"]["data"].as_str(),
    ) {
        (Some(endpoint), Some(ca)) => Ok(Described {
            endpoint: endpoint.to_string(),
            ca_data: ca.to_string(),
        }),
        _ => Err(CloudError::Refused(format!(
            "{step}: cluster {name:?} has no endpoint or certificate authority yet (status {})",
            cluster["status"].as_str().unwrap_or("unknown")
        ))),
    }
}
