//! Whole rollouts through the pure state machine with scripted observations, one test per
//! acceptance scenario of reference §7 (numbers in the names).

use canary_gate::rollout::{
    Action, CheckKind, GateOutcome, Health, Observed, Phase, Plan, RolloutState, Routes, decide,
};
use canary_gate::spec::{Source, load};
use std::collections::BTreeMap;

/// A tiny world: the target and primary revisions, readiness, routes, scale.
struct World {
    plan: Plan,
    state: RolloutState,
    target: String,
    primary: String,
    primary_rolling: u32,
    target_replicas: u32,
    routes: Routes,
    canary_health: Health,
    primary_health: Option<Health>,
    gates: BTreeMap<CheckKind, GateOutcome>,
    asked: Vec<CheckKind>,
    log: Vec<(Phase, u32, Routes)>,
    notes: Vec<String>,
    post_rollout: Vec<Phase>,
}

fn plan_from(analysis: &str, extra: &str) -> Plan {
    let text = format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: podinfo, namespace: test}}\nspec:\n  provider: nginx\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: podinfo}}\n  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}}\n  service: {{port: 80}}\n{extra}  analysis:\n{analysis}"
    );
    let loaded = load(&[Source {
        name: "scenario.yaml".into(),
        text,
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    Plan::new(&loaded.canaries[0]).0
}

impl World {
    /// Initialized on revision v0; the target is then changed to v1.
    fn new(plan: Plan) -> World {
        World {
            plan,
            state: RolloutState {
                phase: Phase::Initialized,
                last_applied_spec: Some("v0".into()),
                last_promoted_spec: Some("v0".into()),
                ..RolloutState::default()
            },
            target: "v1".into(),
            primary: "v0".into(),
            primary_rolling: 0,
            target_replicas: 0,
            routes: Routes {
                primary: 100,
                canary: 0,
                mirrored: false,
            },
            canary_health: Health::Ready,
            primary_health: None,
            gates: BTreeMap::new(),
            asked: Vec::new(),
            log: Vec::new(),
            notes: Vec::new(),
            post_rollout: Vec::new(),
        }
    }

    fn tick(&mut self) {
        let primary = self
            .primary_health
            .clone()
            .unwrap_or(if self.primary_rolling > 0 {
                Health::Waiting("rolling".into())
            } else {
                Health::Ready
            });
        self.primary_rolling = self.primary_rolling.saturating_sub(1);
        let obs = Observed {
            target_hash: self.target.clone(),
            tracked_configs: BTreeMap::new(),
            canary: self.canary_health.clone(),
            primary,
            routes: self.routes,
        };
        let (plan, state, gates) = (&self.plan, &self.state, &self.gates);
        let asked = &mut self.asked;
        let decision = futures::executor::block_on(decide(plan, state, &obs, async |kind| {
            asked.push(kind);
            gates.get(&kind).cloned().unwrap_or(GateOutcome::Open)
        }));
        for a in &decision.actions {
            match a {
                Action::SetRoutes(r) => self.routes = *r,
                Action::ScaleTargetToZero => self.target_replicas = 0,
                Action::ScaleTargetFromZero => self.target_replicas = 1,
                Action::PromotePrimary => {
                    self.primary = self.target.clone();
                    self.primary_rolling = 1;
                }
                Action::PostRollout(p) => self.post_rollout.push(*p),
            }
        }
        self.notes
            .extend(decision.notes.iter().map(|n| n.message.clone()));
        self.state = decision.state;
        self.log
            .push((self.state.phase, self.state.canary_weight, self.routes));
    }

    fn run_until(&mut self, done: impl Fn(&World) -> bool, limit: usize) {
        for _ in 0..limit {
            self.tick();
            if done(self) {
                return;
            }
        }
        panic!("not done after {limit} ticks: {:?}", self.log);
    }

    fn canary_weights(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for (_, _, r) in &self.log {
            if out.last() != Some(&r.canary) {
                out.push(r.canary);
            }
        }
        out
    }

    fn phases(&self) -> Vec<Phase> {
        let mut out: Vec<Phase> = Vec::new();
        for (p, _, _) in &self.log {
            if out.last() != Some(p) {
                out.push(*p);
            }
        }
        out
    }
}

const CANARY_20_40: &str =
    "    interval: 10s\n    threshold: 2\n    stepWeight: 20\n    maxWeight: 40\n";

fn terminal(w: &World) -> bool {
    matches!(w.state.phase, Phase::Succeeded | Phase::Failed)
}

#[test]
fn scenario_02_03_promotion_on_image_change_and_finalisation() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.run_until(terminal, 20);
    assert_eq!(w.state.phase, Phase::Succeeded);
    assert_eq!(w.primary, "v1", "the primary runs the new revision");
    assert_eq!(w.target_replicas, 0);
    assert_eq!(w.canary_weights(), vec![0, 20, 40, 0]);
    assert_eq!(
        w.phases(),
        vec![
            Phase::Progressing,
            Phase::Promoting,
            Phase::Finalising,
            Phase::Succeeded
        ]
    );
    assert!(!w.phases().contains(&Phase::Failed));
    assert_eq!(w.state.last_promoted_spec.as_deref(), Some("v1"));
    assert_eq!(w.post_rollout, vec![Phase::Succeeded]);
    // Idle afterwards.
    let before = w.log.len();
    w.tick();
    assert_eq!(w.log[before].0, Phase::Succeeded);
}

#[test]
fn scenario_07_rollback_on_failed_metric_after_threshold() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.plan.metrics = plan_from("    interval: 10s\n    threshold: 2\n    stepWeight: 20\n    maxWeight: 40\n    metrics:\n      - name: request-success-rate\n        thresholdRange: {min: 1}\n", "").metrics;
    w.gates.insert(
        CheckKind::Analysis,
        GateOutcome::Closed("request-success-rate 0.00 < 1".into()),
    );
    w.run_until(terminal, 20);
    assert_eq!(w.state.phase, Phase::Failed);
    // Scale-up, first step to 20 (pre-rollout tick moves traffic), two failed checks, then the
    // threshold is seen on the next tick.
    let failed_ticks = w.notes.iter().filter(|n| n.contains("0.00 < 1")).count();
    assert_eq!(failed_ticks, 2);
    assert_eq!(
        w.routes,
        Routes {
            primary: 100,
            canary: 0,
            mirrored: false
        }
    );
    assert_eq!(w.target_replicas, 0);
    assert_eq!(w.primary, "v0", "the primary keeps the old revision");
    assert_eq!(w.post_rollout, vec![Phase::Failed]);
    assert!(
        w.notes
            .iter()
            .any(|n| n.contains("failed checks threshold reached 2"))
    );
}

#[test]
fn scenario_08_09_revert_to_primary_is_not_a_run_but_the_failed_revision_again_is() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.plan.metrics = plan_from("    interval: 10s\n    threshold: 2\n    stepWeight: 20\n    maxWeight: 40\n    metrics:\n      - name: request-success-rate\n        thresholdRange: {min: 1}\n", "").metrics;
    w.gates
        .insert(CheckKind::Analysis, GateOutcome::Closed("bad".into()));
    w.run_until(terminal, 20);
    assert_eq!(w.state.phase, Phase::Failed);
    // 8: back to what the primary runs: no run.
    w.target = "v0".into();
    for _ in 0..3 {
        w.tick();
    }
    assert_eq!(w.state.phase, Phase::Failed);
    assert_eq!(w.primary, "v0");
    // 9: the failed revision again: a new run.
    w.target = "v1".into();
    w.tick();
    assert_eq!(w.state.phase, Phase::Progressing);
}

#[test]
fn scenario_10_a_new_template_after_failure_succeeds() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.canary_health = Health::Stuck("ProgressDeadlineExceeded".into());
    w.run_until(terminal, 10);
    assert_eq!(w.state.phase, Phase::Failed);
    w.canary_health = Health::Ready;
    w.target = "v1-annotated".into();
    w.run_until(|w| w.state.phase == Phase::Succeeded, 20);
    assert_eq!(w.primary, "v1-annotated");
}

#[test]
fn scenario_06_a_spec_that_is_already_promoted_does_nothing() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.target = "v0".into();
    for _ in 0..3 {
        w.tick();
    }
    assert_eq!(w.phases(), vec![Phase::Initialized]);
    assert_eq!(w.target_replicas, 0);
}

#[test]
fn scenario_16_skip_analysis_promotes_directly() {
    let mut w = World::new(plan_from(CANARY_20_40, "  skipAnalysis: true\n"));
    w.run_until(terminal, 5);
    assert_eq!(w.state.phase, Phase::Succeeded);
    assert_eq!(w.primary, "v1");
    assert!(w.notes.iter().any(|n| n.contains("analysis was skipped")));
}

#[test]
fn scenario_17_skip_analysis_with_a_broken_image_fails_and_keeps_the_primary() {
    let mut w = World::new(plan_from(CANARY_20_40, "  skipAnalysis: true\n"));
    w.canary_health = Health::Stuck("ProgressDeadlineExceeded".into());
    w.run_until(terminal, 5);
    assert_eq!(w.state.phase, Phase::Failed);
    assert_eq!(w.primary, "v0");
}

#[test]
fn scenario_21_threshold_reached_with_a_failing_metric_rolls_back() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.state.phase = Phase::Progressing;
    w.state.last_applied_spec = Some("v1".into());
    w.state.failed_checks = 2;
    w.routes = Routes {
        primary: 80,
        canary: 20,
        mirrored: false,
    };
    w.tick();
    assert_eq!(w.state.phase, Phase::Failed);
    assert_eq!(
        w.routes,
        Routes {
            primary: 100,
            canary: 0,
            mirrored: false
        }
    );
    assert_eq!(
        w.state.failed_checks, 0,
        "reset after rollback, as Flagger does"
    );
}

#[test]
fn scenario_22_blue_green_phases_with_one_iteration() {
    let mut w = World::new(plan_from(
        "    interval: 10s\n    threshold: 2\n    iterations: 1\n",
        "",
    ));
    w.run_until(terminal, 10);
    assert_eq!(
        w.phases(),
        vec![
            Phase::Progressing,
            Phase::Promoting,
            Phase::Finalising,
            Phase::Succeeded
        ]
    );
    assert_eq!(
        w.canary_weights(),
        vec![0, 100, 0],
        "nginx switches all traffic to the canary before promotion"
    );
}

#[test]
fn scenario_22_step_weight_promotion() {
    let mut w = World::new(plan_from(
        "    interval: 10s\n    threshold: 2\n    stepWeight: 100\n    stepWeightPromotion: 50\n",
        "",
    ));
    w.run_until(terminal, 10);
    let promoting: Vec<(u32, u32)> = w
        .log
        .iter()
        .filter(|(p, _, _)| matches!(p, Phase::Promoting | Phase::Finalising))
        .map(|(_, _, r)| (r.primary, r.canary))
        .collect();
    assert_eq!(
        promoting,
        vec![(0, 100), (0, 100), (50, 50), (100, 0)],
        "waits for the primary, then 50, then 100"
    );
}

#[test]
fn scenario_23_a_new_revision_mid_analysis_resets_routes() {
    let mut w = World::new(plan_from(
        "    interval: 10s\n    threshold: 2\n    stepWeight: 10\n",
        "",
    ));
    for _ in 0..3 {
        w.tick();
    }
    assert_eq!(
        w.routes,
        Routes {
            primary: 80,
            canary: 20,
            mirrored: false
        }
    );
    w.target = "v2".into();
    w.tick();
    assert_eq!(
        w.routes,
        Routes {
            primary: 100,
            canary: 0,
            mirrored: false
        }
    );
    assert_eq!(w.state.phase, Phase::Progressing);
    assert_eq!(w.state.last_applied_spec.as_deref(), Some("v2"));
}

#[test]
fn scenario_26_ab_testing_routes_to_the_canary_during_iterations() {
    let mut w = World::new(plan_from(
        "    interval: 10s\n    threshold: 2\n    iterations: 3\n    match:\n      - headers: {x-user: {exact: insider}}\n",
        "",
    ));
    w.run_until(terminal, 12);
    assert_eq!(w.state.phase, Phase::Succeeded);
    let during: Vec<Routes> = w
        .log
        .iter()
        .filter(|(p, _, _)| *p == Phase::Progressing)
        .map(|(_, _, r)| *r)
        .skip(1)
        .collect();
    assert!(during.iter().all(|r| r.canary == 100), "{during:?}");
    assert_eq!(w.state.iterations, 0);
    assert_eq!(w.routes.canary, 0);
}

#[test]
fn scenario_28_weight_schedules() {
    for (analysis, want) in [
        (
            "    interval: 10s\n    threshold: 2\n    stepWeight: 20\n    maxWeight: 50\n",
            vec![0, 20, 40, 60, 0],
        ),
        (
            "    interval: 10s\n    threshold: 2\n    stepWeights: [1, 2, 10, 80]\n",
            vec![0, 1, 2, 10, 80, 0],
        ),
        (
            "    interval: 10s\n    threshold: 2\n    stepWeights: [1, 2, 10, 200]\n",
            vec![0, 1, 2, 10, 100, 0],
        ),
    ] {
        let mut w = World::new(plan_from(analysis, ""));
        w.run_until(terminal, 20);
        assert_eq!(w.canary_weights(), want, "{analysis}");
    }
}

#[test]
fn scenario_29_promotion_failure_keeps_the_canary_and_routes_to_it() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.run_until(|w| w.state.phase == Phase::Promoting, 20);
    w.primary_health = Some(Health::Stuck("ProgressDeadlineExceeded".into()));
    w.tick();
    assert_eq!(w.state.phase, Phase::Failed);
    assert_eq!(
        w.routes,
        Routes {
            primary: 0,
            canary: 100,
            mirrored: false
        }
    );
    assert_eq!(w.state.canary_weight, 100);
    assert_eq!(w.target_replicas, 1, "the canary is not scaled down");
    assert_eq!(w.post_rollout, vec![Phase::Failed]);
}

#[test]
fn scenario_30_skip_analysis_succeeds_with_skipped_noted() {
    let mut w = World::new(plan_from(CANARY_20_40, "  skipAnalysis: true\n"));
    w.tick();
    w.tick();
    assert_eq!(w.state.phase, Phase::Succeeded);
    assert_eq!(w.post_rollout, vec![Phase::Succeeded]);
}

#[test]
fn gates_confirm_rollout_waits_confirm_promotion_holds_and_rollback_hook_aborts() {
    let hooks = "    webhooks:\n      - {name: gate, type: confirm-rollout, url: 'http://h/gate'}\n      - {name: promo, type: confirm-promotion, url: 'http://h/promo'}\n      - {name: traffic, type: confirm-traffic-increase, url: 'http://h/t'}\n      - {name: pre, type: pre-rollout, url: 'http://h/pre'}\n      - {name: back, type: rollback, url: 'http://h/rb'}\n";
    let mut w = World::new(plan_from(&format!("{CANARY_20_40}{hooks}"), ""));
    w.gates
        .insert(CheckKind::ConfirmRollout, GateOutcome::Closed("403".into()));
    w.gates
        .insert(CheckKind::Rollback, GateOutcome::Closed("403".into()));
    w.tick();
    w.tick();
    assert_eq!(w.state.phase, Phase::Waiting);
    assert_eq!(
        w.target_replicas, 0,
        "no scale-up behind a closed confirm-rollout"
    );
    assert_eq!(
        w.notes
            .iter()
            .filter(|n| n.contains("waiting for approval"))
            .count(),
        1,
        "warned once"
    );
    w.gates.insert(CheckKind::ConfirmRollout, GateOutcome::Open);
    w.gates.insert(
        CheckKind::ConfirmPromotion,
        GateOutcome::Closed("403".into()),
    );
    w.run_until(|w| w.state.phase == Phase::WaitingPromotion, 10);
    let weight = w.routes.canary;
    w.tick();
    assert_eq!(
        (w.state.phase, w.routes.canary),
        (Phase::WaitingPromotion, weight),
        "held at the last weight"
    );
    w.gates.insert(CheckKind::Rollback, GateOutcome::Open);
    w.tick();
    assert_eq!(w.state.phase, Phase::Failed);
    assert!(w.notes.iter().any(|n| n.contains("rollback webhook")));
    // The event order of a successful run with every gate (§2.13).
    let mut w = World::new(plan_from(&format!("{CANARY_20_40}{hooks}"), ""));
    w.gates
        .insert(CheckKind::Rollback, GateOutcome::Closed("403".into()));
    w.run_until(terminal, 20);
    assert_eq!(w.state.phase, Phase::Succeeded);
    let order = [
        "New revision detected! Scaling up",
        "Starting canary analysis",
        "Advance podinfo.test canary weight 20",
        "Advance podinfo.test canary weight 40",
        "Copying podinfo.test template spec to podinfo-primary",
        "Promotion completed! Scaling down",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|o| {
            w.notes
                .iter()
                .position(|n| n.starts_with(o))
                .unwrap_or_else(|| panic!("{o}: {:?}", w.notes))
        })
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{:?}", w.notes);
    // Gates were asked in Flagger's order on the first analysis tick.
    let first = w
        .asked
        .iter()
        .position(|k| *k == CheckKind::PreRollout)
        .unwrap();
    assert_eq!(
        &w.asked[first - 1..first + 2],
        &[
            CheckKind::Rollback,
            CheckKind::PreRollout,
            CheckKind::ConfirmTrafficIncrease
        ]
    );
}

#[test]
fn a_closed_traffic_increase_gate_halts_without_a_failed_check() {
    let hooks = "    webhooks:\n      - {name: traffic, type: confirm-traffic-increase, url: 'http://h/t'}\n";
    let mut w = World::new(plan_from(&format!("{CANARY_20_40}{hooks}"), ""));
    w.gates.insert(
        CheckKind::ConfirmTrafficIncrease,
        GateOutcome::Closed("403".into()),
    );
    for _ in 0..5 {
        w.tick();
    }
    assert_eq!(w.state.phase, Phase::Progressing);
    assert_eq!(w.routes.canary, 0);
    assert_eq!(w.state.failed_checks, 0);
}

#[test]
fn a_waiting_primary_holds_the_tick() {
    let mut w = World::new(plan_from(CANARY_20_40, ""));
    w.primary_health = Some(Health::Waiting("1 of 2 updated".into()));
    for _ in 0..3 {
        w.tick();
    }
    assert_eq!(
        w.state.phase,
        Phase::Initialized,
        "nothing starts while the primary rolls"
    );
    w.primary_health = None;
    w.run_until(terminal, 20);
    assert_eq!(w.state.phase, Phase::Succeeded);
}

#[test]
fn scenario_25_mirroring_then_the_first_weight() {
    let text = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n  provider: gatewayapi:v1\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n  service: {port: 80, gatewayRefs: [{name: gw}]}\n  analysis: {interval: 10s, threshold: 2, stepWeight: 10, mirror: true}\n";
    let loaded = load(&[Source {
        name: "m.yaml".into(),
        text: text.into(),
    }]);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
    let mut w = World::new(Plan::new(&loaded.canaries[0]).0);
    w.tick(); // scale up
    w.tick(); // first analysis tick: mirror
    assert_eq!(
        w.routes,
        Routes {
            primary: 100,
            canary: 0,
            mirrored: true
        }
    );
    w.tick();
    assert_eq!(
        w.routes,
        Routes {
            primary: 90,
            canary: 10,
            mirrored: false
        }
    );
}
