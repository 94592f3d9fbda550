//! The `<hpa>-primary` HorizontalPodAutoscaler (reference §3.7): a copy of the target's HPA that
//! scales the primary, created once at initialization.

use super::without_toolkit;
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::rollout::primary_name;
use k8s_openapi::api::autoscaling::v2::{CrossVersionObjectReference, HorizontalPodAutoscaler};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The primary's HPA for `source`, scaling `<target>-primary`, with optional replica bounds.
pub fn render(
    source: &HorizontalPodAutoscaler,
    primary: &str,
    min: Option<u32>,
    max: Option<u32>,
    owner: &str,
) -> HorizontalPodAutoscaler {
    let name = source.metadata.name.clone().unwrap_or_default();
    let mut labels = without_toolkit(&source.metadata.labels.clone().unwrap_or_default());
    labels
        .entry(MANAGED_BY.0.to_string())
        .or_insert_with(|| MANAGED_BY.1.to_string());
    let mut spec = source.spec.clone();
    spec.scale_target_ref = CrossVersionObjectReference {
        api_version: Some("apps/v1".into()),
        kind: "Deployment".into(),
        name: primary.to_string(),
    };
    if let Some(m) = min {
        spec.min_replicas = Some(m as i32);
    }
    if let Some(m) = max {
        spec.max_replicas = m as i32;
    }
    HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(primary_name(&name)),
            namespace: source.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                OWNER_ANNOTATION.to_string(),
                owner.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}
