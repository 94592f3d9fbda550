//! The Deployment controller: the `<target>-primary` Deployment, the `-primary` copies of tracked
//! ConfigMaps and Secrets, the HPA copy, scaling, and readiness (reference §3). Renders are pure
//! functions; `deployment.rs` applies them. Must not route traffic or decide the rollout.

pub mod configs;
pub mod deployment;
pub mod hpa;
pub mod primary;
pub mod readiness;
pub mod service_target;

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Controller options that shape the objects (Flagger's controller flags, same defaults).
#[derive(Clone, Debug)]
pub struct Options {
    /// Selector label keys, in order (`app,name,app.kubernetes.io/name`).
    pub selector_labels: Vec<String>,
    /// Label key prefixes copied to the primary (`""`: none, `*`: all).
    pub include_label_prefixes: Vec<String>,
    /// Copy referenced ConfigMaps and Secrets to `-primary` and re-point the primary at them.
    pub config_tracking: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            selector_labels: vec!["app".into(), "name".into(), "app.kubernetes.io/name".into()],
            include_label_prefixes: Vec::new(),
            config_tracking: true,
        }
    }
}

/// Pod template annotation regenerated on every promotion (it forces the primary to roll).
pub const ROLLOUT_ID_ANNOTATION: &str = "canary-gate.dev/id";

/// The selector label (§3.1): the first of `keys` present in `match_labels`.
pub fn selector_label(
    match_labels: &BTreeMap<String, String>,
    keys: &[String],
) -> Option<(String, String)> {
    keys.iter()
        .find_map(|k| match_labels.get(k).map(|v| (k.clone(), v.clone())))
}

/// Drops keys Flux owns (`*toolkit.fluxcd.io*`).
pub fn without_toolkit(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| !k.contains("toolkit.fluxcd.io"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Labels whose key starts with one of `prefixes` (`*` keeps all), Flux keys dropped.
pub fn include_by_prefix(
    map: &BTreeMap<String, String>,
    prefixes: &[String],
) -> BTreeMap<String, String> {
    without_toolkit(map)
        .into_iter()
        .filter(|(k, _)| {
            prefixes
                .iter()
                .any(|p| p == "*" || (!p.is_empty() && k.starts_with(p.as_str())))
        })
        .collect()
}

/// A short stable hash of a value's JSON (first 8 bytes of SHA-256, hex).
pub fn hash_json(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_label_takes_the_first_known_key() {
        let keys = Options::default().selector_labels;
        let ml = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "x".to_string()),
            ("name".to_string(), "y".to_string()),
        ]);
        assert_eq!(
            selector_label(&ml, &keys),
            Some(("name".into(), "y".into()))
        );
        assert_eq!(selector_label(&BTreeMap::new(), &keys), None);
    }

    #[test]
    fn prefixes_filter_labels() {
        let m = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "a".to_string()),
            ("team".to_string(), "b".to_string()),
            (
                "kustomize.toolkit.fluxcd.io/name".to_string(),
                "c".to_string(),
            ),
        ]);
        assert!(include_by_prefix(&m, &[]).is_empty());
        assert_eq!(
            include_by_prefix(&m, &["app.kubernetes.io".into()]).len(),
            1
        );
        assert_eq!(include_by_prefix(&m, &["*".into()]).len(), 2);
    }
}
