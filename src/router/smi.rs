//! The SMI router (reference §6) for `provider: linkerd` (TrafficSplit `v1alpha1`) and
//! `smi:v1alpha1`, `smi:v1alpha2`, `smi:v1alpha3`: the `TrafficSplit` named after the apex
//! Service, whose root service is the first of `service.hosts` (else the apex) and whose two
//! backends, canary first, carry the rollout's weights. `v1alpha1` weights are Kubernetes
//! quantities (written as strings, read back in any quantity form); later versions take
//! integers. The render is pure; `owned::OneObject` reads and writes the object. Must not touch
//! workloads or Services.

use super::owned;
use crate::rollout::{Plan, Routes};
use kube::api::ApiResource;
use serde_json::{Value, json};

/// The TrafficSplit API versions Flagger writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitVersion {
    /// `split.smi-spec.io/v1alpha1`: quantity weights (Linkerd's SMI extension).
    V1alpha1,
    /// `split.smi-spec.io/v1alpha2`.
    V1alpha2,
    /// `split.smi-spec.io/v1alpha3`.
    V1alpha3,
}

impl SplitVersion {
    /// The `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            SplitVersion::V1alpha1 => "split.smi-spec.io/v1alpha1",
            SplitVersion::V1alpha2 => "split.smi-spec.io/v1alpha2",
            SplitVersion::V1alpha3 => "split.smi-spec.io/v1alpha3",
        }
    }

    fn weight(self, w: u32) -> Value {
        match self {
            SplitVersion::V1alpha1 => json!(w.to_string()),
            SplitVersion::V1alpha2 | SplitVersion::V1alpha3 => json!(w),
        }
    }
}

/// What a TrafficSplit is rendered from.
#[derive(Clone, Debug)]
pub struct SplitInput<'a> {
    /// Its version.
    pub version: SplitVersion,
    /// Its name: the apex Service's.
    pub name: &'a str,
    /// The root service: `service.hosts[0]`, else the apex.
    pub root: &'a str,
    /// `<apex>-primary`.
    pub primary: &'a str,
    /// `<apex>-canary`.
    pub canary: &'a str,
    /// The canary's namespace.
    pub namespace: &'a str,
}

/// What the TrafficSplit of a canary with a service is rendered from.
pub fn input<'a>(
    plan: &'a Plan,
    version: SplitVersion,
    namespace: &'a str,
) -> Option<SplitInput<'a>> {
    let service = plan.service.as_ref()?;
    Some(SplitInput {
        version,
        name: &plan.names.apex,
        root: service.hosts.first().unwrap_or(&plan.names.apex),
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
        namespace,
    })
}

/// The TrafficSplit spec for `split` (mirroring does not exist in SMI).
pub fn spec(input: &SplitInput, split: Routes) -> Value {
    let v = input.version;
    json!({
        "service": input.root,
        "backends": [
            {"service": input.canary, "weight": v.weight(split.canary)},
            {"service": input.primary, "weight": v.weight(split.primary)},
        ],
    })
}

/// A Kubernetes quantity as a whole number, as Flagger reads a weight (`AsInt64`): `"90"`,
/// `90`, `"1k"`; a fractional value such as `"500m"` reads as 0.
pub fn quantity(v: &Value) -> u32 {
    if let Some(n) = v.as_u64() {
        return n.min(100) as u32;
    }
    let Some(text) = v.as_str() else { return 0 };
    let (digits, suffix) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let Ok(n) = digits.parse::<u64>() else {
        return 0;
    };
    let scale: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        _ => return 0,
    };
    n.saturating_mul(scale).min(100) as u32
}

/// The split a TrafficSplit holds, from its primary and canary backends; `None` when neither
/// has weight.
pub fn split_of(spec: &Value, input: &SplitInput) -> Option<Routes> {
    let backends = spec["backends"].as_array()?;
    let weight = |name: &str| {
        backends
            .iter()
            .find(|b| b["service"] == name)
            .map_or(0, |b| quantity(&b["weight"]))
    };
    let (primary, canary) = (weight(input.primary), weight(input.canary));
    (primary > 0 || canary > 0).then_some(Routes {
        primary,
        canary,
        mirrored: false,
    })
}

impl owned::SplitObject for SplitInput<'_> {
    fn resource(&self) -> ApiResource {
        owned::resource(self.version.api_version(), "TrafficSplit")
    }

    fn name(&self) -> &str {
        self.name
    }

    fn namespace(&self) -> &str {
        self.namespace
    }

    fn spec(&self, split: Routes) -> Value {
        spec(self, split)
    }

    fn split_of(&self, spec: &Value) -> Option<Routes> {
        split_of(spec, self)
    }

    fn no_split(&self) -> String {
        format!("has no weight on {} or {}", self.primary, self.canary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_flagger_reads_them() {
        assert_eq!(quantity(&json!("90")), 90);
        assert_eq!(quantity(&json!(10)), 10);
        assert_eq!(quantity(&json!("500m")), 0);
        assert_eq!(quantity(&json!("1k")), 100);
        assert_eq!(quantity(&json!(null)), 0);
    }
}
