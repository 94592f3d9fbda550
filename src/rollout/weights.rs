//! Flagger's weight arithmetic: the maximum weight, the next step, and the whole schedule.
//!
//! Owns the numbers only (`totalWeight` is 100). The schedule reproduces Flagger's overshoot:
//! with `stepWeight: 20` and `maxWeight: 50` the canary goes 20, 40, 60.

/// The weight at which promotion starts: `min(100, last of stepWeights)`, else `maxWeight` when
/// set and positive, else 100.
pub fn max_weight(step_weights: &[u32], max_weight: Option<u32>) -> u32 {
    match (step_weights.last(), max_weight) {
        (Some(&last), _) => last.min(100),
        (None, Some(m)) if m > 0 => m,
        _ => 100,
    }
}

/// How much to add to the canary weight `current` (Flagger's `nextStepWeight`).
pub fn next_step(current: u32, step_weight: u32, step_weights: &[u32]) -> u32 {
    if step_weight > 0 || step_weights.is_empty() {
        return step_weight;
    }
    let max_step = 100u32.saturating_sub(current);
    if max_step == 0 {
        return 1;
    }
    if current == 0 {
        return max_step.min(step_weights[0]);
    }
    let last = step_weights.len() - 1;
    match step_weights[..last].iter().position(|&w| w == current) {
        Some(i) => max_step.min(step_weights[i + 1].saturating_sub(current)),
        None => max_step,
    }
}

/// The canary weight after one advance from `current` (capped at 100).
pub fn advance(current: u32, step_weight: u32, step_weights: &[u32]) -> u32 {
    (current + next_step(current, step_weight, step_weights)).min(100)
}

/// Every canary weight the analysis sets before promotion, in order. Empty when the weight can
/// never rise (`stepWeight: 0`).
pub fn schedule(step_weight: u32, step_weights: &[u32], max: Option<u32>) -> Vec<u32> {
    let top = max_weight(step_weights, max);
    let mut weights = Vec::new();
    let mut current = 0u32;
    while current < top {
        let next = advance(current, step_weight, step_weights);
        if next == current {
            return Vec::new();
        }
        weights.push(next);
        current = next;
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    /// stepWeight, stepWeights, maxWeight, expected schedule.
    type Case = (u32, &'static [u32], Option<u32>, &'static [u32]);

    /// Flagger's examples (reference §2.6 and §7.3 item 28).
    #[test]
    fn schedules_match_flagger() {
        let cases: &[Case] = &[
            (20, &[], Some(50), &[20, 40, 60]),
            (50, &[], Some(100), &[50, 100]),
            (0, &[1, 2, 10, 80], None, &[1, 2, 10, 80]),
            (0, &[1, 2, 10, 200], None, &[1, 2, 10, 100]),
            (10, &[], None, &[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]),
            (10, &[], Some(50), &[10, 20, 30, 40, 50]),
            (30, &[], Some(50), &[30, 60]),
            (100, &[], None, &[100]),
            (150, &[], None, &[100]),
            (0, &[5, 10, 25, 50], None, &[5, 10, 25, 50]),
            (0, &[100], None, &[100]),
            (0, &[], None, &[]),
        ];
        for (step, steps, max, want) in cases {
            assert_eq!(
                schedule(*step, steps, *max),
                want.to_vec(),
                "stepWeight {step} stepWeights {steps:?} maxWeight {max:?}"
            );
        }
    }

    #[test]
    fn max_weight_rules() {
        assert_eq!(max_weight(&[1, 2, 200], Some(30)), 100);
        assert_eq!(max_weight(&[], Some(30)), 30);
        assert_eq!(max_weight(&[], Some(0)), 100);
        assert_eq!(max_weight(&[], None), 100);
    }

    #[test]
    fn next_step_off_the_list_jumps_to_the_top() {
        // A weight that is not on the list (e.g. after a manual change) goes straight to 100.
        assert_eq!(next_step(7, 0, &[5, 10, 50]), 93);
        assert_eq!(next_step(100, 0, &[5, 10]), 1);
        assert_eq!(next_step(10, 0, &[5, 10, 50]), 40);
    }
}
