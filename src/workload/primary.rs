//! The `<target>-primary` workload as Flagger creates it (reference §3.2): a pure render of the
//! parts a Deployment and a DaemonSet share, and the Deployment around them.

use super::configs::{self, Kind};
use super::{Options, ROLLOUT_ID_ANNOTATION, include_by_prefix, without_toolkit};
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::rollout::primary_name;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::{BTreeMap, BTreeSet};

/// Annotations that describe the target itself and must not be copied.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// The metadata and pod template a primary workload gets from its target (the parts Flagger's
/// Deployment and DaemonSet controllers share): labels by `--include-label-prefix` with the
/// selector label set to `<value>-primary`, annotations without Flux's and the target's own,
/// the pod template with the selector label, a new rollout id and the tracked configs renamed.
pub struct PrimaryParts {
    /// The primary's metadata.
    pub meta: ObjectMeta,
    /// Its selector: `key: <value>-primary` only.
    pub selector: LabelSelector,
    /// Its pod template.
    pub template: PodTemplateSpec,
}

/// What target `meta` (with pod `template`, selector label `key: value`) gives its primary.
#[allow(clippy::too_many_arguments)]
pub fn parts(
    meta: &ObjectMeta,
    template: &PodTemplateSpec,
    key: &str,
    value: &str,
    opts: &Options,
    tracked: &BTreeSet<(Kind, String)>,
    owner: &str,
    rollout_id: &str,
) -> PrimaryParts {
    let name = meta.name.clone().unwrap_or_default();
    let primary_value = primary_name(value);
    let mut labels = include_by_prefix(
        &meta.labels.clone().unwrap_or_default(),
        &opts.include_label_prefixes,
    );
    labels.insert(key.to_string(), primary_value.clone());
    labels
        .entry(MANAGED_BY.0.to_string())
        .or_insert_with(|| MANAGED_BY.1.to_string());
    let mut annotations = without_toolkit(&meta.annotations.clone().unwrap_or_default());
    for k in NOT_COPIED {
        annotations.remove(*k);
    }
    annotations.insert(OWNER_ANNOTATION.to_string(), owner.to_string());

    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut pod_labels = without_toolkit(&template_meta.labels.unwrap_or_default());
    pod_labels.insert(key.to_string(), primary_value.clone());
    let mut pod_annotations = without_toolkit(&template_meta.annotations.unwrap_or_default());
    pod_annotations.insert(ROLLOUT_ID_ANNOTATION.to_string(), rollout_id.to_string());
    let mut pod = template.spec.clone().unwrap_or_default();
    configs::rewrite(&mut pod, tracked);
    rewrite_selectors(&mut pod, &opts.selector_labels, &name);
    PrimaryParts {
        meta: ObjectMeta {
            name: Some(primary_name(&name)),
            namespace: meta.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        selector: LabelSelector {
            match_labels: Some(BTreeMap::from([(key.to_string(), primary_value)])),
            match_expressions: None,
        },
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels),
                annotations: Some(pod_annotations),
                ..ObjectMeta::default()
            }),
            spec: Some(pod),
        },
    }
}

/// The annotations a primary takes from its target at promotion, as Flagger's controllers
/// replace them: only those `--include-label-prefix` admits (none by default), plus ours. At
/// creation the primary gets all of them ([`parts`]); a promotion then narrows them.
pub fn promoted_annotations(
    target: &ObjectMeta,
    opts: &Options,
    owner: &str,
) -> BTreeMap<String, String> {
    let mut out = include_by_prefix(
        &target.annotations.clone().unwrap_or_default(),
        &opts.include_label_prefixes,
    );
    for k in NOT_COPIED {
        out.remove(*k);
    }
    out.insert(OWNER_ANNOTATION.to_string(), owner.to_string());
    out
}

/// The primary Deployment for `target`, whose selector label is `key: value`.
pub fn render(
    target: &Deployment,
    key: &str,
    value: &str,
    opts: &Options,
    tracked: &BTreeSet<(Kind, String)>,
    owner: &str,
    rollout_id: &str,
) -> Deployment {
    let spec = &target.spec;
    let p = parts(
        &target.metadata,
        &spec.template,
        key,
        value,
        opts,
        tracked,
        owner,
        rollout_id,
    );
    Deployment {
        metadata: p.meta,
        spec: DeploymentSpec {
            replicas: Some(spec.replicas.filter(|r| *r > 0).unwrap_or(1)),
            progress_deadline_seconds: spec.progress_deadline_seconds,
            min_ready_seconds: spec.min_ready_seconds,
            revision_history_limit: spec.revision_history_limit,
            strategy: spec.strategy.clone(),
            selector: p.selector,
            template: p.template,
            paused: None,
        },
        status: None,
    }
}

fn rewrite_selector(sel: &mut LabelSelector, keys: &[String], target: &str) {
    let primary = primary_name(target);
    for (k, v) in sel.match_labels.iter_mut().flatten() {
        if keys.contains(k) && v == target {
            v.clone_from(&primary);
        }
    }
    for e in sel.match_expressions.iter_mut().flatten() {
        if keys.contains(&e.key) {
            for v in e.values.iter_mut().flatten() {
                if v == target {
                    v.clone_from(&primary);
                }
            }
        }
    }
}

/// Pod anti-affinity and topology spread selectors that name the target now name the primary
/// (pod affinity is left alone, as Flagger does).
fn rewrite_selectors(pod: &mut PodSpec, keys: &[String], target: &str) {
    if let Some(anti) = pod
        .affinity
        .as_mut()
        .and_then(|a| a.pod_anti_affinity.as_mut())
    {
        for term in anti
            .required_during_scheduling_ignored_during_execution
            .iter_mut()
            .flatten()
        {
            if let Some(sel) = term.label_selector.as_mut() {
                rewrite_selector(sel, keys, target);
            }
        }
        for w in anti
            .preferred_during_scheduling_ignored_during_execution
            .iter_mut()
            .flatten()
        {
            if let Some(sel) = w.pod_affinity_term.label_selector.as_mut() {
                rewrite_selector(sel, keys, target);
            }
        }
    }
    for c in pod.topology_spread_constraints.iter_mut().flatten() {
        if let Some(sel) = c.label_selector.as_mut() {
            rewrite_selector(sel, keys, target);
        }
    }
}
