//! Readiness of a Deployment (reference §3.6) and of a DaemonSet (§3.8) as pure functions of
//! the object (and, for a Deployment, the clock).

use crate::rollout::Health;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, DeploymentCondition};
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

fn condition<'a>(d: &'a Deployment, kind: &str) -> Option<&'a DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_.as_deref() == Some(kind))
}

/// Whether `d` is ready: `threshold` percent of updated replicas available; `deadline` bounds how
/// long `Available=False/MinimumReplicasUnavailable` may last before it counts as stuck.
pub fn deployment_health(
    d: &Deployment,
    threshold: u32,
    deadline: Duration,
    now: Timestamp,
) -> Health {
    let name = d.metadata.name.as_deref().unwrap_or("deployment");
    let status = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if generation > status.observed_generation.unwrap_or(0) {
        return Health::Waiting(format!("{name}: waiting for the rollout to be observed"));
    }
    if let Some(c) = condition(d, "Available")
        && c.status.as_deref() == Some("False")
        && c.reason.as_deref() == Some("MinimumReplicasUnavailable")
        && let Some(since) = c.last_update_time.as_ref()
        && since.0.as_second() + deadline.as_secs() as i64 <= now.as_second()
    {
        return Health::Stuck(format!(
            "{name}: {} ({}) for longer than {}s",
            c.message.as_deref().unwrap_or("no minimum availability"),
            c.reason.as_deref().unwrap_or_default(),
            deadline.as_secs()
        ));
    }
    if let Some(c) = condition(d, "Progressing")
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Health::Stuck(format!(
            "{name}: Progressing=False ProgressDeadlineExceeded: {}",
            c.message.as_deref().unwrap_or("the rollout timed out")
        ));
    }
    let wanted = d.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        return Health::Waiting(format!(
            "{name}: {updated} of {wanted} new replicas updated"
        ));
    }
    if replicas > updated {
        return Health::Waiting(format!(
            "{name}: {} old replicas pending termination",
            replicas - updated
        ));
    }
    let needed = (i64::from(updated) * i64::from(threshold) / 100) as i32;
    if available < needed {
        return Health::Waiting(format!(
            "{name}: {available} of {updated} (readyThreshold {threshold}%) available"
        ));
    }
    Health::Ready
}

/// Whether `d` is ready, as Flagger reads DaemonSet status: once its generation is observed,
/// every scheduled node runs the new template and `threshold` percent of them have it available.
/// A DaemonSet reports no progress deadline: how long it may wait is the caller's to decide.
pub fn daemonset_health(d: &DaemonSet, threshold: u32) -> Health {
    let name = d.metadata.name.as_deref().unwrap_or("daemonset");
    let status = d.status.clone().unwrap_or_default();
    if d.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0) {
        return Health::Waiting(format!("{name}: waiting for the rollout to be observed"));
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired {
        return Health::Waiting(format!(
            "{name}: {updated} of {desired} nodes run the new pods"
        ));
    }
    let needed = (i64::from(desired) * i64::from(threshold) / 100) as i32;
    if available < needed {
        return Health::Waiting(format!(
            "{name}: {available} of {desired} (readyThreshold {threshold}%) updated pods available"
        ));
    }
    Health::Ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).unwrap()
    }

    fn base(status: serde_json::Value) -> Deployment {
        dep(json!({"metadata": {"name": "podinfo", "generation": 2},
                   "spec": {"replicas": 2, "selector": {}, "template": {}}, "status": status}))
    }

    #[test]
    fn the_rules_in_order() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let d = Duration::from_secs(60);
        assert!(
            matches!(deployment_health(&base(json!({"observedGeneration": 1})), 100, d, now), Health::Waiting(w) if w.contains("observed"))
        );
        let stuck = base(json!({"observedGeneration": 2, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "lastUpdateTime": "2026-11-25T09:58:00Z", "message": "Deployment does not have minimum availability."}]}));
        assert!(matches!(
            deployment_health(&stuck, 100, d, now),
            Health::Stuck(_)
        ));
        assert!(matches!(
            deployment_health(&stuck, 100, Duration::from_secs(600), now),
            Health::Waiting(_)
        ));
        let exceeded = base(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"x\" has timed out progressing."}]}));
        assert!(
            matches!(deployment_health(&exceeded, 100, d, now), Health::Stuck(m) if m.contains("ProgressDeadlineExceeded"))
        );
        let updating = base(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}));
        assert_eq!(
            deployment_health(&updating, 100, d, now),
            Health::Waiting("podinfo: 1 of 2 new replicas updated".into())
        );
        let old = base(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2}));
        assert!(
            matches!(deployment_health(&old, 100, d, now), Health::Waiting(w) if w.contains("old replicas"))
        );
        let half = base(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
        );
        assert!(matches!(
            deployment_health(&half, 100, d, now),
            Health::Waiting(_)
        ));
        assert_eq!(deployment_health(&half, 50, d, now), Health::Ready);
    }

    #[test]
    fn a_daemonset_is_ready_once_every_node_runs_the_new_pods_available() {
        let ds = |status: serde_json::Value| -> DaemonSet {
            serde_json::from_value(json!({"metadata": {"name": "agent", "generation": 2},
                "spec": {"selector": {}, "template": {}}, "status": status}))
            .unwrap()
        };
        let counts = |updated, available| {
            json!({"observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                "numberMisscheduled": 0, "numberReady": available,
                "updatedNumberScheduled": updated, "numberAvailable": available})
        };
        assert!(
            matches!(daemonset_health(&ds(json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
                "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 3})), 100), Health::Waiting(w) if w.contains("observed"))
        );
        assert_eq!(
            daemonset_health(&ds(counts(1, 3)), 100),
            Health::Waiting("agent: 1 of 3 nodes run the new pods".into())
        );
        assert!(matches!(
            daemonset_health(&ds(counts(3, 2)), 100),
            Health::Waiting(_)
        ));
        assert_eq!(daemonset_health(&ds(counts(3, 2)), 50), Health::Ready);
        assert_eq!(daemonset_health(&ds(counts(3, 3)), 100), Health::Ready);
        // Scaled to zero: nothing to wait for.
        let zero = json!({"observedGeneration": 2, "desiredNumberScheduled": 0,
            "currentNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0});
        assert_eq!(daemonset_health(&ds(zero), 100), Health::Ready);
    }
}
