//! What a metric value means: inside `thresholdRange` passes; outside, no data, or a failed query
//! is a failed check (reference §5.4). The provider only fetches numbers; the core judges them.

use crate::rollout::decision::MetricOutcome;
use crate::spec::model::Metric;

/// `Ok` when the metric passes, else why it failed (one line).
pub fn judge(metric: &Metric, outcome: &MetricOutcome) -> Result<(), String> {
    match outcome {
        MetricOutcome::NoData => Err(format!(
            "halt advancement no values found for {} metric {}: probably not receiving traffic",
            metric.builtin.map_or("custom", |_| "built-in"),
            metric.name
        )),
        MetricOutcome::Failed(why) => Err(format!("metric {} query failed: {why}", metric.name)),
        MetricOutcome::Value(v) => {
            if let Some(min) = metric.min
                && *v < min
            {
                return Err(format!("halt advancement: {} {v:.2} < {min}", metric.name));
            }
            if let Some(max) = metric.max
                && *v > max
            {
                return Err(format!("halt advancement: {} {v:.2} > {max}", metric.name));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::path::FieldPath;

    fn metric(min: Option<f64>, max: Option<f64>) -> Metric {
        Metric {
            path: FieldPath::root(),
            name: "request-success-rate".into(),
            builtin: None,
            interval: None,
            interval_text: None,
            min,
            max,
            template: None,
            query: None,
            variables: Default::default(),
        }
    }

    #[test]
    fn ranges_and_no_data() {
        assert!(judge(&metric(Some(99.0), None), &MetricOutcome::Value(99.5)).is_ok());
        assert!(judge(&metric(Some(99.0), None), &MetricOutcome::Value(80.0)).is_err());
        assert!(judge(&metric(None, Some(500.0)), &MetricOutcome::Value(501.0)).is_err());
        assert!(
            judge(&metric(Some(1.0), Some(2.0)), &MetricOutcome::NoData)
                .unwrap_err()
                .contains("no values found")
        );
        assert!(judge(&metric(None, None), &MetricOutcome::Failed("500".into())).is_err());
    }
}
