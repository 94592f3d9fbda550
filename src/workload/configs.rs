//! Config tracking (reference §3.3): the ConfigMaps and Secrets a pod spec references (volumes,
//! projected volumes, env, envFrom, init containers) are copied to `<name>-primary` and the
//! primary's pod spec is re-pointed at the copies.

use super::{Options, hash_json, include_by_prefix};
use crate::error::Error;
use crate::k8s::desired::{Desired, Read, get};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet};

/// Annotation that opts a ConfigMap or Secret out of tracking (`disabled`).
pub const DISABLE_ANNOTATION: &str = "flagger.app/config-tracking";

/// Secret types that are tracked (others, e.g. registry credentials, are left alone).
const TRACKED_SECRET_TYPES: &[&str] = &[
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
];

/// ConfigMap or Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Secret.
    Secret,
}

impl Kind {
    /// `configmap` / `secret` (the tracked-configs key prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }
}

/// Every referenced config: kind, name, and whether all references are optional.
pub fn references(pod: &PodSpec) -> BTreeMap<(Kind, String), bool> {
    let mut out: BTreeMap<(Kind, String), bool> = BTreeMap::new();
    let mut add = |kind: Kind, name: &str, optional: Option<bool>| {
        let entry = out.entry((kind, name.to_string())).or_insert(true);
        *entry &= optional.unwrap_or(false);
    };
    for v in pod.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            add(Kind::ConfigMap, &cm.name, cm.optional);
        }
        if let Some(s) = &v.secret
            && let Some(name) = &s.secret_name
        {
            add(Kind::Secret, name, s.optional);
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &src.config_map {
                add(Kind::ConfigMap, &cm.name, cm.optional);
            }
            if let Some(s) = &src.secret {
                add(Kind::Secret, &s.name, s.optional);
            }
        }
    }
    for c in containers(pod) {
        for e in c.env.iter().flatten() {
            if let Some(from) = &e.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    add(Kind::ConfigMap, &r.name, r.optional);
                }
                if let Some(r) = &from.secret_key_ref {
                    add(Kind::Secret, &r.name, r.optional);
                }
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                add(Kind::ConfigMap, &r.name, r.optional);
            }
            if let Some(r) = &e.secret_ref {
                add(Kind::Secret, &r.name, r.optional);
            }
        }
    }
    out
}

fn containers(pod: &PodSpec) -> impl Iterator<Item = &Container> {
    pod.containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
}

/// Re-points every reference to a tracked config at its `-primary` copy.
pub fn rewrite(pod: &mut PodSpec, tracked: &BTreeSet<(Kind, String)>) {
    let renamed = |kind: Kind, name: &mut String| {
        if tracked.contains(&(kind, name.clone())) {
            *name = crate::rollout::primary_name(name);
        }
    };
    for v in pod.volumes.iter_mut().flatten() {
        if let Some(cm) = v.config_map.as_mut() {
            renamed(Kind::ConfigMap, &mut cm.name);
        }
        if let Some(name) = v.secret.as_mut().and_then(|s| s.secret_name.as_mut()) {
            renamed(Kind::Secret, name);
        }
        for src in v
            .projected
            .iter_mut()
            .flat_map(|p| p.sources.iter_mut().flatten())
        {
            if let Some(cm) = src.config_map.as_mut() {
                renamed(Kind::ConfigMap, &mut cm.name);
            }
            if let Some(s) = src.secret.as_mut() {
                renamed(Kind::Secret, &mut s.name);
            }
        }
    }
    let all = pod
        .containers
        .iter_mut()
        .chain(pod.init_containers.iter_mut().flatten());
    for c in all {
        for e in c.env.iter_mut().flatten() {
            if let Some(from) = e.value_from.as_mut() {
                if let Some(r) = from.config_map_key_ref.as_mut() {
                    renamed(Kind::ConfigMap, &mut r.name);
                }
                if let Some(r) = from.secret_key_ref.as_mut() {
                    renamed(Kind::Secret, &mut r.name);
                }
            }
        }
        for e in c.env_from.iter_mut().flatten() {
            if let Some(r) = e.config_map_ref.as_mut() {
                renamed(Kind::ConfigMap, &mut r.name);
            }
            if let Some(r) = e.secret_ref.as_mut() {
                renamed(Kind::Secret, &mut r.name);
            }
        }
    }
}

fn disabled(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(DISABLE_ANNOTATION))
        .is_some_and(|v| v.starts_with("disable"))
}

fn copy_meta(source: &ObjectMeta, opts: &Options, owner: &str) -> ObjectMeta {
    let mut labels = include_by_prefix(
        &source.labels.clone().unwrap_or_default(),
        &opts.include_label_prefixes,
    );
    labels
        .entry(MANAGED_BY.0.to_string())
        .or_insert_with(|| MANAGED_BY.1.to_string());
    ObjectMeta {
        name: source.name.as_deref().map(crate::rollout::primary_name),
        namespace: source.namespace.clone(),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            OWNER_ANNOTATION.to_string(),
            owner.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// What tracking found: the tracked configs as read, in reference order.
#[derive(Debug, Default)]
pub struct Tracked {
    /// The tracked ConfigMaps.
    pub config_maps: Vec<ConfigMap>,
    /// The tracked Secrets.
    pub secrets: Vec<Secret>,
}

impl Tracked {
    /// The tracked set (for [`rewrite`]).
    pub fn set(&self) -> BTreeSet<(Kind, String)> {
        let name = |m: &ObjectMeta| m.name.clone().unwrap_or_default();
        let cms = self
            .config_maps
            .iter()
            .map(|c| (Kind::ConfigMap, name(&c.metadata)));
        let secrets = self
            .secrets
            .iter()
            .map(|s| (Kind::Secret, name(&s.metadata)));
        cms.chain(secrets).collect()
    }

    /// `configmap/<name>` → checksum of its data (kept in the state to notice a change).
    pub fn checksums(&self) -> BTreeMap<String, String> {
        let name = |m: &ObjectMeta| m.name.clone().unwrap_or_default();
        let cms = self.config_maps.iter().map(|c| {
            let key = format!("configmap/{}", name(&c.metadata));
            (key, hash_json(&(&c.data, &c.binary_data)))
        });
        let secrets = self
            .secrets
            .iter()
            .map(|s| (format!("secret/{}", name(&s.metadata)), hash_json(&s.data)));
        cms.chain(secrets).collect()
    }

    /// The `-primary` copies, refreshed from the originals on every write.
    pub fn copies(&self, opts: &Options, owner: &str) -> Vec<Desired<'static>> {
        let mut out = Vec::new();
        for cm in &self.config_maps {
            let want = ConfigMap {
                metadata: copy_meta(&cm.metadata, opts, owner),
                data: cm.data.clone(),
                binary_data: cm.binary_data.clone(),
                immutable: None,
            };
            let name = want.metadata.name.clone().unwrap_or_default();
            out.push(Desired::typed(
                &name,
                "init, and again at promotion",
                move |cur: Option<&ConfigMap>| {
                    Some(refresh(cur.map(|c| &c.metadata), want.clone()))
                },
            ));
        }
        for s in &self.secrets {
            let want = Secret {
                metadata: copy_meta(&s.metadata, opts, owner),
                data: s.data.clone(),
                type_: s.type_.clone(),
                ..Secret::default()
            };
            let name = want.metadata.name.clone().unwrap_or_default();
            out.push(Desired::typed(
                &name,
                "init, and again at promotion",
                move |cur: Option<&Secret>| Some(refresh(cur.map(|c| &c.metadata), want.clone())),
            ));
        }
        out
    }
}

/// Reads the configs `pod` references (a missing one that is not optional is invalid input;
/// an opted-out one or a Secret of an untracked type is skipped). `workload` names the
/// referencing object in errors.
pub async fn track(
    read: &dyn Read,
    namespace: &str,
    pod: &PodSpec,
    opts: &Options,
    workload: &str,
) -> Result<Tracked, Error> {
    let mut out = Tracked::default();
    if !opts.config_tracking {
        return Ok(out);
    }
    for ((kind, name), optional) in references(pod) {
        let missing = || {
            Error::Invalid(format!(
                "{}/{name} in namespace {namespace}, referenced by {workload}, does not exist",
                kind.as_str()
            ))
        };
        match kind {
            Kind::ConfigMap => match get::<ConfigMap>(read, &name).await? {
                None if optional => {}
                None => return Err(missing()),
                Some(cm) if disabled(&cm.metadata) => {}
                Some(cm) => out.config_maps.push(cm),
            },
            Kind::Secret => match get::<Secret>(read, &name).await? {
                None if optional => {}
                None => return Err(missing()),
                Some(s) => {
                    let kind_ok =
                        TRACKED_SECRET_TYPES.contains(&s.type_.as_deref().unwrap_or("Opaque"));
                    if kind_ok && !disabled(&s.metadata) {
                        out.secrets.push(s);
                    }
                }
            },
        }
    }
    Ok(out)
}

/// The desired copy, keeping the server's metadata of an existing one (so an unchanged copy
/// compares equal) with our labels and annotations.
pub fn refresh<T: kube::Resource>(current: Option<&ObjectMeta>, mut want: T) -> T {
    if let Some(cur) = current {
        let mut meta = cur.clone();
        meta.labels = want.meta().labels.clone();
        meta.annotations = want.meta().annotations.clone();
        *want.meta_mut() = meta;
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> PodSpec {
        serde_json::from_value(json!({
            "containers": [{"name": "app", "image": "x",
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "b", "optional": true}}}],
                "envFrom": [{"configMapRef": {"name": "env-cfg"}}]}],
            "initContainers": [{"name": "init", "image": "x", "envFrom": [{"secretRef": {"name": "init-secret"}}]}],
            "volumes": [{"name": "v1", "configMap": {"name": "cfg"}},
                        {"name": "v2", "secret": {"secretName": "tls"}},
                        {"name": "v3", "projected": {"sources": [{"configMap": {"name": "proj"}}]}}]
        }))
        .unwrap()
    }

    #[test]
    fn finds_every_reference_kind() {
        let refs = references(&pod());
        let names: Vec<String> = refs
            .keys()
            .map(|(k, n)| format!("{}/{n}", k.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                "configmap/cfg",
                "configmap/env-cfg",
                "configmap/proj",
                "secret/creds",
                "secret/init-secret",
                "secret/tls"
            ]
        );
        assert!(refs[&(Kind::Secret, "creds".to_string())], "optional");
        assert!(!refs[&(Kind::ConfigMap, "cfg".to_string())]);
    }

    #[test]
    fn rewrites_only_tracked_references() {
        let mut p = pod();
        let tracked = BTreeSet::from([
            (Kind::ConfigMap, "cfg".to_string()),
            (Kind::Secret, "init-secret".to_string()),
        ]);
        rewrite(&mut p, &tracked);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["name"],
            "cfg-primary"
        );
        assert_eq!(v["volumes"][0]["configMap"]["name"], "cfg-primary");
        assert_eq!(
            v["initContainers"][0]["envFrom"][0]["secretRef"]["name"],
            "init-secret-primary"
        );
        assert_eq!(
            v["containers"][0]["envFrom"][0]["configMapRef"]["name"], "env-cfg",
            "untracked stays"
        );
        assert_eq!(v["volumes"][1]["secret"]["secretName"], "tls");
    }
}
