//! Annotations for a rollout: the verdict and each failing check, placed on the spec line that
//! caused it (the metric's or webhook's list entry, the canary's `metadata.name`).
//!
//! Pure: reads the validated spec and the step history, returns [`Diagnostic`]s, worst first.

use super::Verdict;
use crate::rollout::StepRecord;
use crate::spec::model::Canary;
use crate::spec::path::FieldPath;
use crate::spec::{Diagnostic, Severity};

/// The verdict first, then failing metrics and webhooks, the most failures first.
pub fn rollout_findings(
    canary: &Canary,
    steps: &[StepRecord],
    verdict: &Verdict,
) -> Vec<Diagnostic> {
    let origin = &canary.origin;
    let rolled_back = matches!(verdict, Verdict::RolledBack);
    let mut out = Vec::new();
    if let Some((severity, message)) = verdict_note(canary, steps, verdict) {
        out.push(origin.diag(severity, &FieldPath::of(&["metadata", "name"]), message));
    }
    // (failures, path, message) per metric and webhook.
    let mut failing: Vec<(usize, FieldPath, String)> = Vec::new();
    let listed = |key: &str, path: &FieldPath, i: usize| {
        if path.is_root() {
            canary.analysis.path.key(key).index(i)
        } else {
            path.clone()
        }
    };
    for (i, m) in canary.analysis.metrics.iter().enumerate() {
        let records = steps.iter().flat_map(|s| s.metrics.iter());
        let tally = tally(
            records
                .filter(|r| r.name == m.name)
                .map(|r| (r.passed, &r.reason)),
        );
        if let Some((failed, total, why)) = tally {
            let path = listed("metrics", &m.path, i);
            let what = format!(
                "metric {} failed {failed} of {total} checks; last: {why}",
                m.name
            );
            failing.push((failed, path, what));
        }
    }
    for (i, h) in canary.analysis.webhooks.iter().enumerate() {
        let records = steps.iter().flat_map(|s| s.hooks.iter());
        let tally = tally(
            records
                .filter(|r| r.name == h.name)
                .map(|r| (r.passed, &r.reason)),
        );
        if let Some((failed, total, why)) = tally {
            let path = listed("webhooks", &h.path, i);
            let what = format!(
                "{} webhook {} held the rollout {failed} of {total} times; last: {why}",
                h.kind.as_str(),
                h.name
            );
            failing.push((failed, path, what));
        }
    }
    failing.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, path, message) in failing {
        let severity = if rolled_back {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(origin.diag(severity, &path, message));
    }
    out
}

/// (failed, total, last reason) of a check's records, when any failed.
fn tally<'a>(
    records: impl Iterator<Item = (bool, &'a Option<String>)>,
) -> Option<(usize, usize, String)> {
    let (mut failed, mut total, mut last) = (0, 0, None);
    for (passed, reason) in records {
        total += 1;
        if !passed {
            failed += 1;
            last = Some(reason.clone().unwrap_or_else(|| "failed".into()));
        }
    }
    last.map(|why| (failed, total, why))
}

fn verdict_note(
    canary: &Canary,
    steps: &[StepRecord],
    verdict: &Verdict,
) -> Option<(Severity, String)> {
    let weight = steps.iter().map(|s| s.weight).max().unwrap_or(0);
    let n = steps.len();
    Some(match verdict {
        Verdict::Promoted => (
            Severity::Notice,
            format!(
                "{} promoted after {n} steps (canary weight up to {weight}%)",
                canary.name
            ),
        ),
        Verdict::RolledBack => (
            Severity::Error,
            format!(
                "{} rolled back after {n} steps (canary weight up to {weight}%): {}",
                canary.name,
                steps
                    .iter()
                    .rev()
                    .flat_map(|s| s.notes.iter())
                    .next()
                    .map_or("analysis failed", String::as_str)
            ),
        ),
        Verdict::Cancelled => (
            Severity::Warning,
            format!(
                "{}: cancelled; all traffic is back on the primary",
                canary.name
            ),
        ),
        Verdict::TimedOut => (
            Severity::Error,
            format!(
                "{}: timed out; all traffic is back on the primary",
                canary.name
            ),
        ),
        Verdict::Paused(how) => (Severity::Notice, format!("{}: paused: {how}", canary.name)),
        Verdict::Error(e) => (Severity::Error, format!("{}: {e}", canary.name)),
        Verdict::NothingToDo | Verdict::Valid | Verdict::Invalid | Verdict::Planned => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{HookRecord, MetricRecord};
    use crate::spec::{Source, load};

    const SPEC: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  provider: nginx
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}
  service: {port: 80}
  analysis:
    interval: 30s
    threshold: 2
    stepWeight: 10
    maxWeight: 50
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
      - name: request-duration
        thresholdRange: {max: 500}
    webhooks:
      - name: load-test
        url: http://tester/
";

    fn step(ok: bool) -> StepRecord {
        StepRecord {
            weight: 10,
            metrics: vec![MetricRecord {
                name: "request-success-rate".into(),
                value: Some(if ok { 100.0 } else { 80.0 }),
                min: Some(99.0),
                passed: ok,
                reason: (!ok).then(|| "request-success-rate 80.00 < 99".into()),
                ..MetricRecord::default()
            }],
            hooks: vec![HookRecord {
                name: "load-test".into(),
                kind: "rollout".into(),
                passed: true,
                reason: None,
            }],
            notes: vec!["Rolling back podinfo.test failed checks threshold reached 2".into()],
            ..StepRecord::default()
        }
    }

    #[test]
    fn a_rollback_points_at_the_failing_metric_line() {
        let loaded = load(&[Source {
            name: "deploy/canary.yaml".into(),
            text: SPEC.into(),
        }]);
        let c = &loaded.canaries[0];
        let steps = vec![step(true), step(false), step(false)];
        let f = rollout_findings(c, &steps, &Verdict::RolledBack);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!((f[0].severity, f[0].line), (Severity::Error, 4));
        assert_eq!((f[1].severity, f[1].line), (Severity::Error, 16));
        assert_eq!(f[1].file, "deploy/canary.yaml");
        assert!(
            f[1].message.contains("failed 2 of 3 checks"),
            "{}",
            f[1].message
        );
        let promoted = rollout_findings(c, &steps[..1], &Verdict::Promoted);
        assert_eq!(promoted.len(), 1);
        assert_eq!(promoted[0].severity, Severity::Notice);
    }
}
