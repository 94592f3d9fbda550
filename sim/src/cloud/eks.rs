//! The EKS API stand-in: `DescribeCluster` (`GET /clusters/<name>`, SigV4-signed for `eks`),
//! answering with the configured endpoint and CA. Must not verify signatures or keep books.

use super::aws::{rest_error, rest_refusal, signed_request};
use super::http::{self, Arrived};
use super::sigv4;
use super::state::{ACCOUNT, Cloud};
use crate::server::Response;

/// The EKS API stand-in: `GET /clusters/<name>` (DescribeCluster).
pub fn serve(cloud: &Cloud, req: &Arrived) -> Response {
    let Some(name) = req
        .path
        .strip_prefix("/clusters/")
        .filter(|n| !n.contains('/'))
    else {
        return rest_error(404, "UnknownOperationException", "Unknown operation");
    };
    if req.method != "GET" {
        return rest_error(404, "UnknownOperationException", "Unknown operation");
    }
    let claim_region = sigv4::claim(req).map(|c| c.region).unwrap_or_default();
    if let Err(r) = signed_request(cloud, req, "eks", None) {
        return rest_refusal(r);
    }
    let name = http::percent_decode(name);
    if name != cloud.config.eks_cluster {
        let m = format!("No cluster found for name: {name}.");
        return rest_error(404, "ResourceNotFoundException", &m);
    }
    let c = &cloud.config;
    http::json(
        200,
        &serde_json::json!({"cluster": {
            "name": name,
            "arn": format!("arn:aws:eks:{claim_region}:{ACCOUNT}:cluster/{name}"),
            "version": "1.33",
            "endpoint": c.eks_endpoint,
            "certificateAuthority": {"data": c.eks_ca_data},
            "status": "ACTIVE",
        }}),
    )
}
