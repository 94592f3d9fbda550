//! The SMI router (reference §6) for `provider: linkerd` (TrafficSplit `v1alpha1`) and
//! `smi:v1alpha1`, `smi:v1alpha2`, `smi:v1alpha3`: the `TrafficSplit` named after the apex
//! Service, whose root service is the first of `service.hosts` (else the apex) and whose two
//! backends, canary first, carry the rollout's weights. `v1alpha1` weights are Kubernetes
//! quantities (written as strings, read back in any quantity form); later versions take
//! integers. The render is pure; `SmiRouter` reads and writes the object. Must not touch
//! workloads or Services.

use super::{TrafficRouter, owned};
use crate::error::Error;
use crate::k8s::desired::{Desired, InitStep, Read};
use crate::rollout::{Plan, Routes};
use crate::spec::model::Metadata;
use kube::api::ApiResource;
use serde_json::{Value, json};
use std::time::Duration;

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
}

/// What the TrafficSplit of a canary with a service is rendered from.
pub fn input(plan: &Plan, version: SplitVersion) -> Option<SplitInput<'_>> {
    let service = plan.service.as_ref()?;
    Some(SplitInput {
        version,
        name: &plan.names.apex,
        root: service.hosts.first().unwrap_or(&plan.names.apex),
        primary: &plan.names.primary_service,
        canary: &plan.names.canary_service,
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

/// The SMI router of one canary: the TrafficSplit it owns.
pub struct SmiRouter<'a> {
    /// What the split is rendered from.
    pub input: SplitInput<'a>,
    /// The canary's namespace.
    pub namespace: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// The apex metadata (`spec.service.apex`).
    pub extra: &'a Metadata,
}

impl SmiRouter<'_> {
    fn resource(&self) -> ApiResource {
        owned::resource(self.input.version.api_version(), "TrafficSplit")
    }

    fn object(&self) -> String {
        format!("trafficsplit/{}", self.input.name)
    }
}

#[async_trait::async_trait]
impl TrafficRouter for SmiRouter<'_> {
    /// Refuses a TrafficSplit of that name that canary-gate does not own.
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        let (input, ns, owner) = (&self.input, self.namespace, self.owner);
        owned::refuse_foreign(read, &self.resource(), input.name, ns, owner).await?;
        let split = Desired::dynamic(
            self.resource(),
            input.name,
            "init; the rollout sets its backend weights",
            move |current| {
                let held = current.and_then(|c| split_of(&c.data["spec"], input));
                let spec = spec(input, held.unwrap_or(super::ALL_PRIMARY));
                let res = self.resource();
                Some(owned::render(
                    &res, input.name, ns, current, owner, self.extra, spec,
                ))
            },
        );
        Ok(vec![InitStep::Apply(split)])
    }

    async fn routes(&self, client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        let api = owned::api(client, self.namespace, &self.resource());
        let what = self.object();
        let ts = crate::k8s::write::read_opt(&api, self.input.name, &format!("reading {what}"))
            .await?
            .ok_or_else(|| Error::Infra(format!("{what} is missing; run init again")))?;
        split_of(&ts.data["spec"], &self.input).ok_or_else(|| {
            Error::Infra(format!(
                "{what} has no weight on {} or {}; run init again",
                self.input.primary, self.input.canary
            ))
        })
    }

    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        let api = owned::api(client, self.namespace, &self.resource());
        let object = self.object();
        let what = format!(
            "{object} weight {} (primary {})",
            split.canary, split.primary
        );
        owned::set_spec(&api, self.input.name, &object, &what, |_| {
            spec(&self.input, split)
        })
        .await
        .map(|_| ())
    }

    fn remembers_writes(&self) -> bool {
        true
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
