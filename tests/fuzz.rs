//! Property-based tests (proptest) for the two pure cores: spec parsing and the rollout.
//!
//! Spec parsing (`spec::load`): arbitrary text, YAML-shaped token soup and valid fixtures with one
//! to three edits (a line deleted, duplicated or re-indented, a scalar replaced by a word, a
//! number, `-1`, `""`, `[]`..., the text truncated) never panic; every diagnostic names the file,
//! has a message and a position inside the text; every document is read or reported with an
//! error, except a mapping of another API group, which is skipped as documented.
//!
//! The rollout (`rollout::step`, `rollout::manual`): random valid canaries (stepWeight with or
//! without maxWeight, stepWeights, A/B, blue/green; nginx, Gateway API or kubernetes; threshold
//! 1..5; with and without metrics and webhooks; now and then skipAnalysis, mirroring,
//! stepWeightPromotion) are driven for up to 80 ticks of random observations: new target
//! revisions and config checksums, canary and primary readiness (ready, waiting, stuck), webhook
//! answers, metric values judged against their ranges, and the odd manual promote, rollback or
//! cancel. Each decision's state is fed back and its routes applied. At every tick: routes are a
//! whole split; the canary weight rises only after that tick's analysis passed (or when a failed
//! promotion hands all traffic to the canary, §2.10); a failed check counts one and changes
//! nothing else; at the threshold the rollout rolls back and never advances; Succeeded and
//! Failed stay put until a new revision; promotion comes only once the schedule is walked, or by
//! hand; failed checks never exceed the threshold (details in `World::check_tick`).
//!
//! Cases per property: [`DEFAULT_CASES`], a few seconds for the file in debug; set
//! `PROPTEST_CASES=10000` for a long local run. Failures are not persisted: a shrunk failure
//! becomes a named test at the end of this file (two bugs found here, now fixed, are kept
//! as regression tests).

use canary_gate::rollout::Strategy as Traffic;
use canary_gate::rollout::analysis::judge;
use canary_gate::rollout::manual;
use canary_gate::rollout::tick::revision_changed;
use canary_gate::rollout::{
    Action, CheckKind, Decision, GateOutcome, Health, MetricOutcome, Observed, Phase, Plan,
    RolloutState, Routes, Step, decide, step,
};
use canary_gate::spec::model::HookKind;
use canary_gate::spec::yaml::{Value, parse_documents};
use canary_gate::spec::{Loaded, Source, load};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Cases per property unless `PROPTEST_CASES` says otherwise: the whole file runs in a few
/// seconds in debug.
const DEFAULT_CASES: u32 = 512;

/// `PROPTEST_CASES` when set, else [`DEFAULT_CASES`]; failures are not persisted.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Spec parsing
// ---------------------------------------------------------------------------------------------

/// The valid fixtures, by name, read once.
fn valid_fixtures() -> &'static [(String, String)] {
    static FIXTURES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/canary/valid");
        let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        out.sort();
        assert!(out.len() >= 15, "fixtures missing in {}", dir.display());
        out
    })
}

fn load_one(name: &str, text: &str) -> Loaded {
    load(&[Source {
        name: name.into(),
        text: text.into(),
    }])
}

/// The lines of `text` as YAML counts them (`\n`, `\r\n` and a lone `\r` end a line); the
/// empty line after a final break included.
fn yaml_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\n', '\r']) {
        lines.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    lines.push(rest);
    lines
}

/// Whether (line, column), both 1-based and counted in characters, is a cursor position in
/// `text`: a line that exists and a column at most one past its end. Lines are counted as YAML
/// counts them, or as most editors do (a lone `\r` is not a break): the parser reports the first,
/// the loader's own hints (`'{' is never closed`) the second.
fn position_inside(text: &str, line: u32, column: u32) -> bool {
    let fits = |lines: Vec<&str>| {
        (line as usize)
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .is_some_and(|l| column >= 1 && column as usize <= l.chars().count() + 1)
    };
    fits(yaml_lines(text)) || fits(text.split('\n').collect())
}

/// Every diagnostic is inside the text, names the file and says something.
fn check_diagnostics(name: &str, text: &str, loaded: &Loaded) -> Result<(), TestCaseError> {
    for d in &loaded.diagnostics {
        prop_assert_eq!(&d.file, name);
        prop_assert!(
            !d.message.trim().is_empty(),
            "empty message: {:?}\n--- text ---\n{}",
            d,
            text
        );
        prop_assert!(
            position_inside(text, d.line, d.column),
            "{}:{}:{} is outside the text ({:?})\n--- text ---\n{}",
            name,
            d.line,
            d.column,
            d.message,
            text
        );
    }
    Ok(())
}

/// Every document that is not some other Kubernetes object is read or reported: a non-mapping,
/// a mapping with neither `apiVersion` nor `kind`, one in Flagger's API group, and one of a
/// Flagger kind without a string `apiVersion` must give a Flagger object or at least one error.
/// A mapping whose `apiVersion` names another group (a Deployment next to its Canary, but also
/// `kind: Canary` with `apiVersion: ""`) is skipped without a word, as the README documents;
/// so is one with a foreign `apiVersion` or `kind` and the other missing.
fn check_outcome(text: &str, loaded: &Loaded) -> Result<(), TestCaseError> {
    const FLAGGER_KINDS: &[&str] = &["Canary", "MetricTemplate", "AlertProvider"];
    let must_report = match parse_documents(text) {
        Err(_) => 1,
        Ok(docs) => docs
            .iter()
            .filter(|doc| {
                if !matches!(doc.value, Value::Map(_)) {
                    return true;
                }
                let api = doc.get("apiVersion").and_then(|n| n.as_str());
                let kind = doc.get("kind").and_then(|n| n.as_str());
                (doc.get("apiVersion").is_none() && doc.get("kind").is_none())
                    || api.is_some_and(|a| a.starts_with("flagger.app/"))
                    || (api.is_none() && kind.is_some_and(|k| FLAGGER_KINDS.contains(&k)))
            })
            .count(),
    };
    let read = loaded.canaries.len() + loaded.templates.len() + loaded.alert_providers.len();
    prop_assert!(
        must_report <= read + loaded.errors(),
        "{} document(s) neither read nor reported: {:?}\n--- text ---\n{}",
        must_report,
        loaded.diagnostics,
        text
    );
    Ok(())
}

/// Bits of YAML and of Flagger specs, glued at random.
const TOKENS: &[&str] = &[
    "apiVersion: flagger.app/v1beta1\n",
    "kind: Canary\n",
    "kind: MetricTemplate\n",
    "kind: AlertProvider\n",
    "metadata:\n",
    "  name: app\n",
    "spec:\n",
    "  analysis:\n",
    "    interval: 1m\n",
    "    threshold: 5\n",
    "    stepWeights: [1, 2, 3]\n",
    "    iterations: 3\n",
    "    webhooks:\n",
    "      - name: x\n",
    "        url: http://h/\n",
    "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}\n",
    "  service:\n",
    "    port: 80\n",
    "---\n",
    "...\n",
    "\n",
    "  ",
    "    ",
    "\t",
    "- ",
    ": ",
    ":",
    ",",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\\",
    "#",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "!!int ",
    "!foo ",
    "|\n",
    ">-\n",
    "? ",
    "%YAML 1.2\n",
    "~",
    "null",
    "true",
    "-1",
    "0",
    "1e999",
    ".nan",
    "99999999999999999999",
    "0x1F",
    "10s",
    "é",
    "日本",
    "\u{feff}",
    "\r\n",
    "\r",
    "\u{85}",
    "\u{2028}",
    "🦀",
    "\0",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(TOKENS).prop_map(str::to_string),
            1 => "[a-zA-Z0-9_.-]{1,8}",
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

/// A replacement scalar: a word, a number, `-1`, `""`, `[]`, ...
fn scalar_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-1".to_string()),
        Just("\"\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("~".to_string()),
        Just("0".to_string()),
        Just("true".to_string()),
        Just("1e999".to_string()),
        Just("99999999999999999999".to_string()),
        Just("-".to_string()),
        Just(":".to_string()),
        Just("[1, ".to_string()),
        Just("'".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[a-zA-Z][a-zA-Z0-9-]{0,12}",
        "[0-9]{1,4}(s|m|h|ms)?",
    ]
}

/// One edit of a fixture; line and character indexes are taken modulo the text's size.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    ReplaceScalar(Index, String),
    Indent(Index, i8),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::DeleteLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), scalar_token()).prop_map(|(i, t)| Mutation::ReplaceScalar(i, t)),
        (any::<Index>(), -4i8..=4).prop_map(|(i, d)| Mutation::Indent(i, d)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// `line` with its scalar (the value after `key: ` or `- `, else the whole content) replaced.
fn replace_scalar(line: &str, token: &str) -> String {
    let indent = &line[..line.len() - line.trim_start().len()];
    let body = line.trim_start();
    if let Some(i) = body.find(": ") {
        return format!("{indent}{}: {token}", &body[..i]);
    }
    if let Some(key) = body.strip_suffix(':') {
        return format!("{indent}{key}: {token}");
    }
    if body.starts_with("- ") {
        return format!("{indent}- {token}");
    }
    format!("{indent}{token}")
}

fn apply_mutation(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i.index(lines.len()));
        }
        Mutation::DuplicateLine(i) => {
            let at = i.index(lines.len());
            let copy = lines[at].clone();
            lines.insert(at, copy);
        }
        Mutation::ReplaceScalar(i, token) => {
            let at = i.index(lines.len());
            lines[at] = replace_scalar(&lines[at], token);
        }
        Mutation::Indent(i, delta) => {
            let at = i.index(lines.len());
            let line = &lines[at];
            let body = line.trim_start_matches(' ');
            let indent = (line.len() - body.len()) as i64 + i64::from(*delta);
            lines[at] = format!("{}{body}", " ".repeat(indent.max(0) as usize));
        }
        Mutation::Truncate(i) => {
            let chars = text.chars().count();
            return text.chars().take(i.index(chars + 1)).collect();
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[test]
fn fixtures_load_cleanly_before_mutation() {
    for (name, text) in valid_fixtures() {
        let loaded = load_one(name, text);
        assert_eq!(loaded.errors(), 0, "{name}: {:?}", loaded.diagnostics);
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all: no panic, diagnostics inside the text, load-or-error.
    #[test]
    fn load_survives_arbitrary_text(chars in prop::collection::vec(any::<char>(), 0..300)) {
        let text: String = chars.into_iter().collect();
        let loaded = load_one("fuzz.yaml", &text);
        check_diagnostics("fuzz.yaml", &text, &loaded)?;
        check_outcome(&text, &loaded)?;
    }

    /// YAML-shaped noise (keys, flow brackets, anchors, tags, odd scalars and line breaks).
    #[test]
    fn load_survives_yaml_token_soup(text in token_soup()) {
        let loaded = load_one("soup.yaml", &text);
        check_diagnostics("soup.yaml", &text, &loaded)?;
        check_outcome(&text, &loaded)?;
    }

    /// One to three edits of a valid fixture: loads or reports an error, never panics, and every
    /// diagnostic points inside the edited text.
    #[test]
    fn mutated_fixtures_load_or_report_an_error(
        which in any::<Index>(),
        edits in prop::collection::vec(mutation(), 1..=3),
    ) {
        let (name, original) = which.get(valid_fixtures());
        let text = edits.iter().fold(original.clone(), |t, m| apply_mutation(&t, m));
        let loaded = load_one(name, &text);
        check_diagnostics(name, &text, &loaded)?;
        check_outcome(&text, &loaded)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The rollout state machine
// ---------------------------------------------------------------------------------------------

/// Which router the generated canary uses.
#[derive(Clone, Copy, Debug)]
enum Router {
    Nginx,
    Gateway,
    Kubernetes,
}

/// How traffic is scheduled.
#[derive(Clone, Debug)]
enum Schedule {
    StepWeight { step: u32, max: Option<u32> },
    StepWeights(Vec<u32>),
    AbTesting(u32),
    BlueGreen(u32),
}

const HOOK_TYPES: &[&str] = &[
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
];

/// A valid canary, as the parts its YAML is written from.
#[derive(Clone, Debug)]
struct SpecGen {
    router: Router,
    schedule: Schedule,
    threshold: u32,
    promotion_step: Option<u32>,
    mirror: bool,
    skip_analysis: bool,
    metrics: usize,
    hooks: Vec<&'static str>,
}

impl SpecGen {
    fn yaml(&self) -> String {
        let mut s = String::from(
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: app, namespace: test}\nspec:\n",
        );
        let (provider, extra, service) = match self.router {
            Router::Nginx => (
                "nginx",
                "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: app}\n",
                "{port: 80}",
            ),
            Router::Gateway => ("gatewayapi:v1", "", "{port: 80, gatewayRefs: [{name: gw}]}"),
            Router::Kubernetes => ("kubernetes", "", "{port: 80}"),
        };
        s.push_str(&format!(
            "  provider: {provider}\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app}}\n{extra}  service: {service}\n"
        ));
        if self.skip_analysis {
            s.push_str("  skipAnalysis: true\n");
        }
        s.push_str(&format!(
            "  analysis:\n    interval: 10s\n    threshold: {}\n",
            self.threshold
        ));
        match &self.schedule {
            Schedule::StepWeight { step, max } => {
                s.push_str(&format!("    stepWeight: {step}\n"));
                if let Some(m) = max {
                    s.push_str(&format!("    maxWeight: {m}\n"));
                }
            }
            Schedule::StepWeights(w) => {
                let w: Vec<String> = w.iter().map(u32::to_string).collect();
                s.push_str(&format!("    stepWeights: [{}]\n", w.join(", ")));
            }
            Schedule::AbTesting(n) => s.push_str(&format!(
                "    iterations: {n}\n    match:\n      - headers: {{x-canary: {{exact: insider}}}}\n"
            )),
            Schedule::BlueGreen(n) => s.push_str(&format!("    iterations: {n}\n")),
        }
        if let Some(p) = self.promotion_step {
            s.push_str(&format!("    stepWeightPromotion: {p}\n"));
        }
        if self.mirror {
            s.push_str("    mirror: true\n");
        }
        if self.metrics > 0 {
            s.push_str("    metrics:\n");
            for (name, range) in [
                ("request-success-rate", "{min: 99}"),
                ("request-duration", "{max: 500}"),
            ]
            .iter()
            .take(self.metrics)
            {
                s.push_str(&format!(
                    "      - name: {name}\n        thresholdRange: {range}\n"
                ));
            }
        }
        if !self.hooks.is_empty() {
            s.push_str("    webhooks:\n");
            for (i, kind) in self.hooks.iter().enumerate() {
                s.push_str(&format!(
                    "      - {{name: hook-{i}, type: {kind}, url: 'http://hooks.test/{i}'}}\n"
                ));
            }
        }
        s
    }

    fn plan(&self) -> Plan {
        let text = self.yaml();
        let loaded = load_one("generated.yaml", &text);
        assert_eq!(loaded.errors(), 0, "{:?}\n{text}", loaded.diagnostics);
        assert_eq!(loaded.canaries.len(), 1, "{text}");
        Plan::new(&loaded.canaries[0]).0
    }
}

fn schedule() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        (3u32..=120, prop::option::of(1u32..=100))
            .prop_map(|(step, max)| Schedule::StepWeight { step, max }),
        prop::collection::btree_set(1u32..=110, 1..=6)
            .prop_map(|w| Schedule::StepWeights(w.into_iter().collect())),
        (1u32..=6).prop_map(Schedule::AbTesting),
        (1u32..=6).prop_map(Schedule::BlueGreen),
    ]
}

fn spec_gen() -> impl Strategy<Value = SpecGen> {
    (
        prop_oneof![
            3 => Just(Router::Nginx),
            2 => Just(Router::Gateway),
            1 => Just(Router::Kubernetes),
        ],
        schedule(),
        1u32..=5,
        prop::option::of(1u32..=100),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.08),
        0usize..=2,
        prop_oneof![
            1 => Just(Vec::new()),
            2 => prop::sample::subsequence(HOOK_TYPES, 0..=HOOK_TYPES.len()),
        ],
    )
        .prop_map(
            |(
                router,
                schedule,
                threshold,
                promotion_step,
                mirror,
                skip_analysis,
                metrics,
                hooks,
            )| {
                SpecGen {
                    router,
                    schedule,
                    threshold,
                    promotion_step,
                    mirror,
                    skip_analysis,
                    metrics,
                    hooks,
                }
            },
        )
}

/// What a person does between ticks, instead of a tick.
#[derive(Clone, Copy, Debug)]
enum Manual {
    Promote,
    Rollback,
    Cancel,
}

/// What one tick sees: changes to the target, readiness and every check's answer.
#[derive(Clone, Debug)]
struct TickIn {
    /// A new target revision `v<n>` (`v0` is what the primary first runs).
    target: Option<u8>,
    /// New checksums of the tracked configs.
    configs: Option<u8>,
    canary: Health,
    primary: Health,
    /// Open or not, per check (`Rollback` open means "roll back now"; for `Analysis` this is the
    /// rollout hooks' answer, the metrics come from `metrics`).
    open: BTreeMap<CheckKind, bool>,
    /// What the metric queries return: request-success-rate, then request-duration.
    metrics: [MetricOutcome; 2],
    manual: Option<Manual>,
}

/// A metric value mostly inside its range (`inside`), sometimes outside, sometimes no data or a
/// failed query.
fn metric_outcome(
    inside: std::ops::Range<f64>,
    outside: std::ops::Range<f64>,
) -> impl Strategy<Value = MetricOutcome> {
    prop_oneof![
        12 => inside.prop_map(MetricOutcome::Value),
        2 => outside.prop_map(MetricOutcome::Value),
        1 => Just(MetricOutcome::NoData),
        1 => Just(MetricOutcome::Failed("HTTP 503".into())),
    ]
}

fn health(ready: u32, waiting: u32, stuck: u32) -> impl Strategy<Value = Health> {
    prop_oneof![
        ready => Just(Health::Ready),
        waiting => Just(Health::Waiting("1 of 2 replicas updated".into())),
        stuck => Just(Health::Stuck("ProgressDeadlineExceeded".into())),
    ]
}

fn tick_in() -> impl Strategy<Value = TickIn> {
    let open = (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(cr, rb, pre, an, cti, cp)| {
            BTreeMap::from([
                (CheckKind::ConfirmRollout, cr),
                (CheckKind::Rollback, rb),
                (CheckKind::PreRollout, pre),
                (CheckKind::Analysis, an),
                (CheckKind::ConfirmTrafficIncrease, cti),
                (CheckKind::ConfirmPromotion, cp),
            ])
        });
    (
        prop_oneof![12 => Just(None), 1 => (0u8..4).prop_map(Some)],
        prop_oneof![25 => Just(None), 1 => (0u8..3).prop_map(Some)],
        health(40, 4, 1),
        health(60, 4, 1),
        open,
        (
            metric_outcome(99.0..100.0, 80.0..99.0),
            metric_outcome(1.0..500.0, 500.001..5000.0),
        ),
        prop_oneof![
            40 => Just(None),
            1 => Just(Some(Manual::Promote)),
            1 => Just(Some(Manual::Rollback)),
            1 => Just(Some(Manual::Cancel)),
        ],
    )
        .prop_map(
            |(target, configs, canary, primary, open, (rate, duration), manual)| TickIn {
                target,
                configs,
                canary,
                primary,
                open,
                metrics: [rate, duration],
                manual,
            },
        )
}

/// Where the first tick starts: initialized on `v0`, or a fresh canary (no state yet).
fn initial_state() -> impl Strategy<Value = RolloutState> {
    prop_oneof![
        3 => Just(RolloutState {
            phase: Phase::Initialized,
            last_applied_spec: Some("v0".into()),
            last_promoted_spec: Some("v0".into()),
            ..RolloutState::default()
        }),
        1 => Just(RolloutState::default()),
    ]
}

/// The simulated cluster around the state machine.
struct World {
    plan: Plan,
    state: RolloutState,
    target: String,
    configs: BTreeMap<String, String>,
    routes: Routes,
    /// The revision the primary runs.
    primary: String,
    /// Canary weights raised to in the current run, in order.
    run_weights: Vec<u32>,
    /// Whether the current run started with no traffic on the canary.
    run_from_zero: bool,
    /// The last PromotePrimary copied a revision other than the one the state will record as
    /// promoted, in a case accepted here: a tick promoting after the target was put back to the
    /// primary's spec mid-run (Flagger ignores such a revert too, §2.4, and records the analysed
    /// revision).
    promotion_exempt: bool,
    log: Vec<String>,
    /// How often each outcome happened, to show the generators reach them.
    seen: BTreeMap<&'static str, usize>,
}

fn has_hooks(plan: &Plan, kind: HookKind) -> bool {
    plan.webhooks.iter().any(|w| w.kind == kind)
}

/// Whether the plan consults anything for this check (else it is open without asking).
fn consulted(plan: &Plan, kind: CheckKind) -> bool {
    match kind {
        CheckKind::ConfirmRollout => has_hooks(plan, HookKind::ConfirmRollout),
        CheckKind::Rollback => has_hooks(plan, HookKind::Rollback),
        CheckKind::PreRollout => has_hooks(plan, HookKind::PreRollout),
        CheckKind::Analysis => has_hooks(plan, HookKind::Rollout) || !plan.metrics.is_empty(),
        CheckKind::ConfirmTrafficIncrease => has_hooks(plan, HookKind::ConfirmTrafficIncrease),
        CheckKind::ConfirmPromotion => has_hooks(plan, HookKind::ConfirmPromotion),
    }
}

/// What one call of the tick asked and got.
struct Asked(Vec<(CheckKind, bool)>);

impl Asked {
    fn answer(&self, kind: CheckKind) -> Option<bool> {
        self.0
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, open)| *open)
    }

    /// The check passed this tick: asked and open, or nothing to ask.
    fn passed(&self, plan: &Plan, kind: CheckKind) -> bool {
        match self.answer(kind) {
            Some(open) => open,
            None => !consulted(plan, kind),
        }
    }

    /// An analysis check (pre-rollout or rollout hooks and metrics) answered closed.
    fn analysis_failed(&self) -> bool {
        [CheckKind::PreRollout, CheckKind::Analysis]
            .iter()
            .any(|k| self.answer(*k) == Some(false))
    }
}

fn set_routes(d: &Decision) -> impl Iterator<Item = Routes> + '_ {
    d.actions.iter().filter_map(|a| match a {
        Action::SetRoutes(r) => Some(*r),
        _ => None,
    })
}

fn promotes(d: &Decision) -> bool {
    d.actions.contains(&Action::PromotePrimary)
}

/// Ticks with routes: the live split after a SetRoutes is always a whole split.
fn check_routes(d: &Decision) -> Result<(), TestCaseError> {
    for r in set_routes(d) {
        prop_assert!(r.primary <= 100 && r.canary <= 100, "{:?}", r);
        prop_assert_eq!(r.primary + r.canary, 100, "{:?}", r);
    }
    Ok(())
}

impl World {
    fn new(plan: Plan, state: RolloutState) -> World {
        World {
            plan,
            state,
            target: "v0".into(),
            configs: BTreeMap::new(),
            routes: Routes {
                primary: 100,
                canary: 0,
                mirrored: false,
            },
            primary: "v0".into(),
            run_weights: Vec::new(),
            run_from_zero: true,
            promotion_exempt: false,
            log: Vec::new(),
            seen: BTreeMap::new(),
        }
    }

    fn observe(&self, t: &TickIn) -> Observed {
        Observed {
            target_hash: self.target.clone(),
            tracked_configs: self.configs.clone(),
            canary: t.canary.clone(),
            primary: t.primary.clone(),
            routes: self.routes,
        }
    }

    /// The analysis check as the executor answers it: the rollout hooks, then each metric
    /// judged against its range.
    fn analysis(&self, t: &TickIn) -> GateOutcome {
        if has_hooks(&self.plan, HookKind::Rollout) && !t.open[&CheckKind::Analysis] {
            return GateOutcome::Closed("rollout hook answered 500".into());
        }
        for (m, outcome) in self.plan.metrics.iter().zip(&t.metrics) {
            if let Err(why) = judge(m, outcome) {
                return GateOutcome::Closed(why);
            }
        }
        GateOutcome::Open
    }

    /// Runs `step` to a decision, answering each asked check from `t` (a check asked twice in
    /// one tick panics in `decide`, which fails the case).
    fn decide(&self, obs: &Observed, t: &TickIn) -> Result<(Decision, Asked), TestCaseError> {
        let mut asked = Vec::new();
        let answer = async |kind| {
            let outcome = if kind == CheckKind::Analysis {
                self.analysis(t)
            } else if t.open[&kind] {
                GateOutcome::Open
            } else {
                GateOutcome::Closed("403 from the fuzzer".into())
            };
            asked.push((kind, outcome == GateOutcome::Open));
            outcome
        };
        let d = futures::executor::block_on(decide(&self.plan, &self.state, obs, answer));
        Ok((d, Asked(asked)))
    }

    /// Applies the decision's routes and promotion to the world, then keeps its state.
    fn apply(&mut self, before: &RolloutState, obs: &Observed, d: &Decision, by_hand: bool) {
        for a in &d.actions {
            match a {
                Action::SetRoutes(r) => {
                    if r.canary > self.routes.canary {
                        self.run_weights.push(r.canary);
                    }
                    self.routes = *r;
                }
                Action::PromotePrimary => {
                    self.primary = obs.target_hash.clone();
                    let unrecorded =
                        before.last_applied_spec.as_deref() != Some(obs.target_hash.as_str());
                    let revert =
                        before.last_promoted_spec.as_deref() == Some(obs.target_hash.as_str());
                    self.promotion_exempt = unrecorded && !by_hand && revert;
                }
                _ => {}
            }
        }
        let started = d.actions.contains(&Action::ScaleTargetFromZero);
        let restarted = matches!(before.phase, Phase::Progressing | Phase::WaitingPromotion)
            && d.state.phase == Phase::Progressing
            && (&d.state.last_applied_spec, &d.state.tracked_configs)
                != (&before.last_applied_spec, &before.tracked_configs);
        if started || restarted {
            self.run_weights.clear();
            self.run_from_zero = self.routes.canary == 0;
        }
        self.state = d.state.clone();
    }

    fn run(&mut self, ticks: &[TickIn]) -> Result<(), TestCaseError> {
        for (i, t) in ticks.iter().enumerate() {
            if let Some(n) = t.target {
                self.target = format!("v{n}");
            }
            if let Some(n) = t.configs {
                self.configs = BTreeMap::from([("configmap/app".to_string(), format!("c{n}"))]);
            }
            let obs = self.observe(t);
            let before = self.state.clone();
            let result = match t.manual {
                Some(m) => self.manual(m, &obs, &before),
                None => self.tick(&obs, t, &before),
            };
            if let Err(e) = result {
                return Err(TestCaseError::fail(format!(
                    "tick {i}: {e}\nplan: {:?}\nlog:\n{}",
                    self.plan.strategy,
                    self.log.join("\n")
                )));
            }
        }
        Ok(())
    }

    fn manual(
        &mut self,
        m: Manual,
        obs: &Observed,
        before: &RolloutState,
    ) -> Result<(), TestCaseError> {
        let d = match m {
            Manual::Promote => manual::promote(&self.plan, before, obs),
            Manual::Rollback => manual::rollback(&self.plan, before, obs),
            Manual::Cancel => manual::cancel(before, "cancelled"),
        };
        self.log.push(format!(
            "{m:?} in {:?} -> {:?}",
            before.phase,
            d.as_ref().map(|d| (d.state.phase, &d.actions))
        ));
        let Some(d) = d else { return Ok(()) };
        *self
            .seen
            .entry(match m {
                Manual::Promote => "manual promote",
                Manual::Rollback => "manual rollback",
                Manual::Cancel => "manual cancel",
            })
            .or_default() += 1;
        check_routes(&d)?;
        prop_assert!(d.state.failed_checks <= self.plan.threshold);
        if promotes(&d) {
            prop_assert!(matches!(
                before.phase,
                Phase::Progressing | Phase::Waiting | Phase::WaitingPromotion
            ));
        }
        for r in set_routes(&d) {
            prop_assert!(
                r.canary <= obs.routes.canary,
                "a manual step raised the weight"
            );
        }
        self.apply(before, obs, &d, true);
        Ok(())
    }

    fn tick(&mut self, obs: &Observed, t: &TickIn, s0: &RolloutState) -> Result<(), TestCaseError> {
        let (d, asked) = self.decide(obs, t)?;
        self.log.push(format!(
            "{:?} w{} f{} i{} target {} routes {}/{}{} canary {:?} primary {:?} asked {:?} -> {:?} w{} f{} i{} {:?}",
            s0.phase,
            s0.canary_weight,
            s0.failed_checks,
            s0.iterations,
            obs.target_hash,
            obs.routes.primary,
            obs.routes.canary,
            if obs.routes.mirrored { " mirrored" } else { "" },
            obs.canary,
            obs.primary,
            asked.0,
            d.state.phase,
            d.state.canary_weight,
            d.state.failed_checks,
            d.state.iterations,
            d.actions,
        ));
        self.check_tick(s0, obs, &asked, &d)?;
        self.count(s0, obs, &asked, &d);
        self.apply(s0, obs, &d, false);
        if d.state.phase == Phase::Succeeded
            && s0.phase != Phase::Succeeded
            && !self.promotion_exempt
        {
            // §2.1: lastPromotedSpec is the template the primary runs.
            prop_assert_eq!(
                d.state.last_promoted_spec.as_deref(),
                Some(self.primary.as_str()),
                "Succeeded, but the recorded promoted revision is not what the primary runs"
            );
        }
        Ok(())
    }

    fn count(&mut self, s0: &RolloutState, obs: &Observed, asked: &Asked, d: &Decision) {
        let mut seen = |what: &'static str| *self.seen.entry(what).or_default() += 1;
        if set_routes(d).any(|r| r.canary > obs.routes.canary) {
            seen("raise");
        }
        if asked.analysis_failed() {
            seen("failed check");
        }
        if promotes(d) {
            seen(match self.plan.strategy {
                Traffic::Canary { .. } => "canary promoted",
                Traffic::AbTesting { .. } => "a/b promoted",
                Traffic::BlueGreen { .. } => "blue/green promoted",
            });
        }
        if d.state.phase == Phase::Succeeded && s0.phase == Phase::Finalising {
            seen("succeeded");
        }
        if d.state.phase == Phase::Failed && s0.failed_checks >= self.plan.threshold {
            seen("threshold rollback");
        }
        if d.state.phase == Phase::Failed
            && matches!(s0.phase, Phase::Promoting | Phase::Finalising)
        {
            seen("failed promotion");
        }
        if d.state.phase == Phase::WaitingPromotion {
            seen("waiting promotion");
        }
        if asked.answer(CheckKind::ConfirmTrafficIncrease) == Some(false) {
            seen("traffic gate closed");
        }
        if set_routes(d).any(|r| r.mirrored) {
            seen("mirrored");
        }
        if matches!(s0.phase, Phase::Succeeded | Phase::Failed)
            && d.state.phase == Phase::Progressing
        {
            seen("new run after the end");
        }
        if matches!(s0.phase, Phase::Progressing | Phase::WaitingPromotion)
            && d.state.phase == Phase::Progressing
            && d.state.last_applied_spec != s0.last_applied_spec
        {
            seen("restart");
        }
    }

    /// The invariants of one tick of `step`.
    fn check_tick(
        &self,
        s0: &RolloutState,
        obs: &Observed,
        asked: &Asked,
        d: &Decision,
    ) -> Result<(), TestCaseError> {
        let plan = &self.plan;
        let threshold = plan.threshold;
        check_routes(d)?;
        prop_assert!(
            d.state.failed_checks <= threshold,
            "failed checks {} above threshold {}",
            d.state.failed_checks,
            threshold
        );
        let raised = set_routes(d).any(|r| r.canary > obs.routes.canary);
        let analysing = matches!(s0.phase, Phase::Progressing | Phase::WaitingPromotion);

        // The analysis check this tick stands on: pre-rollout on the first analysis tick (no
        // traffic and no iteration yet, not the mirrored first step), else rollout hooks and
        // metrics.
        let mirror_first =
            matches!(plan.strategy, Traffic::Canary { mirror: true, .. }) && obs.routes.mirrored;
        let first = obs.routes.canary == 0 && s0.iterations == 0 && !mirror_first;
        let analysis_kind = if first {
            CheckKind::PreRollout
        } else {
            CheckKind::Analysis
        };

        // A failed analysis check counts one failed check and changes nothing else.
        if asked.analysis_failed() {
            prop_assert_eq!(d.state.failed_checks, s0.failed_checks + 1);
            prop_assert_eq!(d.state.phase, s0.phase);
            prop_assert_eq!(d.state.iterations, s0.iterations);
            prop_assert!(d.actions.is_empty(), "actions after a failed check");
        }

        // The canary weight rises only on a tick whose analysis passed (or, §2.10, when a failed
        // promotion hands all traffic to the canary, the only healthy copy).
        if raised {
            let failed_promotion = matches!(s0.phase, Phase::Promoting | Phase::Finalising)
                && matches!(obs.primary, Health::Stuck(_))
                && d.state.phase == Phase::Failed;
            if !failed_promotion {
                prop_assert!(analysing, "raised in {:?}", s0.phase);
                prop_assert!(!plan.skip_analysis);
                prop_assert!(s0.failed_checks < threshold, "raised at the threshold");
                prop_assert_eq!(d.state.failed_checks, s0.failed_checks);
                prop_assert!(!asked.analysis_failed(), "raised after a failed check");
                prop_assert!(
                    asked.passed(plan, analysis_kind),
                    "raised without {:?} passing",
                    analysis_kind
                );
                match plan.strategy {
                    Traffic::Canary { .. } if !obs.routes.mirrored => prop_assert!(
                        asked.passed(plan, CheckKind::ConfirmTrafficIncrease),
                        "raised past a closed confirm-traffic-increase gate"
                    ),
                    Traffic::BlueGreen { .. } => prop_assert!(
                        asked.passed(plan, CheckKind::ConfirmPromotion),
                        "blue/green switched traffic past a closed confirm-promotion gate"
                    ),
                    _ => {}
                }
            }
        }

        // At the threshold the next analysing tick rolls back; it never advances or promotes.
        if analysing && s0.failed_checks >= threshold {
            prop_assert!(!raised, "advanced at the threshold");
            prop_assert!(!promotes(d), "promoted at the threshold");
            prop_assert!(d.state.iterations <= s0.iterations || d.state.iterations == 0);
            let reaches_analysis = !plan.skip_analysis
                && obs.primary == Health::Ready
                && obs.canary == Health::Ready
                && !revision_changed(s0, obs);
            if reaches_analysis {
                prop_assert_eq!(
                    d.state.phase,
                    Phase::Failed,
                    "threshold reached, no rollback"
                );
                prop_assert!(set_routes(d).all(|r| r.canary == 0));
            }
        }

        // Succeeded and Failed stay put until the target (or its configs) differ from what the
        // state recorded.
        if matches!(s0.phase, Phase::Succeeded | Phase::Failed) {
            let same = s0.last_applied_spec.as_deref() == Some(obs.target_hash.as_str())
                && s0.tracked_configs == obs.tracked_configs;
            let back_to_primary = s0.last_applied_spec.is_some()
                && s0.last_promoted_spec.as_deref() == Some(obs.target_hash.as_str())
                && s0.tracked_configs == obs.tracked_configs;
            if same || back_to_primary {
                prop_assert_eq!(
                    d.state.phase,
                    s0.phase,
                    "left a terminal phase without a new revision"
                );
                prop_assert!(d.actions.is_empty(), "acted without a new revision");
            }
        }

        // Promotion only once the schedule is exhausted, after a passing analysis and an open
        // confirm-promotion gate (or with skipAnalysis, which promotes in one tick).
        if promotes(d) {
            prop_assert_eq!(
                d.state.phase,
                if plan.skip_analysis {
                    Phase::Succeeded
                } else {
                    Phase::Promoting
                }
            );
            if !plan.skip_analysis {
                prop_assert!(analysing, "promoted from {:?}", s0.phase);
                prop_assert!(s0.failed_checks < threshold);
                prop_assert!(!asked.analysis_failed());
                prop_assert!(asked.passed(plan, analysis_kind));
                prop_assert!(asked.passed(plan, CheckKind::ConfirmPromotion));
                match &plan.strategy {
                    Traffic::Canary {
                        weights,
                        max_weight,
                        ..
                    } => {
                        prop_assert!(
                            obs.routes.canary >= *max_weight,
                            "promoted at {}% below maxWeight {}",
                            obs.routes.canary,
                            max_weight
                        );
                        if self.run_from_zero {
                            prop_assert_eq!(
                                &self.run_weights,
                                weights,
                                "promoted before walking the whole schedule"
                            );
                        }
                    }
                    Traffic::AbTesting { iterations, .. } => {
                        prop_assert_eq!(s0.iterations, *iterations)
                    }
                    Traffic::BlueGreen { iterations, .. } => {
                        prop_assert_eq!(s0.iterations, *iterations + 1)
                    }
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    /// Generated specs are valid, and their plans have a sane schedule.
    #[test]
    fn generated_specs_are_valid(spec in spec_gen()) {
        let plan = spec.plan();
        prop_assert!((1..=5).contains(&plan.threshold));
        if let Traffic::Canary { weights, max_weight, .. } = &plan.strategy {
            prop_assert!(!weights.is_empty());
            prop_assert!(weights.windows(2).all(|w| w[0] < w[1]), "{:?}", weights);
            prop_assert!(weights.iter().all(|w| (1..=100).contains(w)), "{:?}", weights);
            prop_assert!(weights.last().is_some_and(|l| l >= max_weight));
        }
    }

    /// Many ticks of random observations through the state machine; see `check_tick`.
    #[test]
    fn rollout_invariants_hold_at_every_tick(
        spec in spec_gen(),
        start in initial_state(),
        ticks in prop::collection::vec(tick_in(), 1..80),
    ) {
        let mut world = World::new(spec.plan(), start);
        world.run(&ticks)?;
    }
}

/// The generators reach every outcome the invariants are about (so the property does not pass by
/// never getting there): 300 deterministic cases.
#[test]
fn rollout_generators_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let case = (
        spec_gen(),
        initial_state(),
        prop::collection::vec(tick_in(), 1..80),
    );
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..300 {
        let (spec, start, ticks) = case.new_tree(&mut runner).unwrap().current();
        let mut world = World::new(spec.plan(), start);
        world.run(&ticks).unwrap();
        for (k, n) in world.seen {
            *seen.entry(k).or_default() += n;
        }
    }
    eprintln!("outcomes over 300 runs: {seen:?}");
    for outcome in [
        "raise",
        "failed check",
        "canary promoted",
        "a/b promoted",
        "blue/green promoted",
        "succeeded",
        "threshold rollback",
        "failed promotion",
        "waiting promotion",
        "traffic gate closed",
        "mirrored",
        "new run after the end",
        "restart",
        "manual promote",
        "manual rollback",
        "manual cancel",
    ] {
        assert!(
            seen.contains_key(outcome),
            "never reached {outcome:?}: {seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Named regressions (shrunk failures of the properties above)
// ---------------------------------------------------------------------------------------------

fn initialized_on_v0() -> RolloutState {
    RolloutState {
        phase: Phase::Initialized,
        last_applied_spec: Some("v0".into()),
        last_promoted_spec: Some("v0".into()),
        ..RolloutState::default()
    }
}

/// A tick where everything is ready and every gate is open (no rollback hook fires).
fn calm(target: Option<u8>) -> TickIn {
    TickIn {
        target,
        configs: None,
        canary: Health::Ready,
        primary: Health::Ready,
        open: BTreeMap::from([
            (CheckKind::ConfirmRollout, true),
            (CheckKind::Rollback, false),
            (CheckKind::PreRollout, true),
            (CheckKind::Analysis, true),
            (CheckKind::ConfirmTrafficIncrease, true),
            (CheckKind::ConfirmPromotion, true),
        ]),
        metrics: [MetricOutcome::Value(99.5), MetricOutcome::Value(120.0)],
        manual: None,
    }
}

fn by_hand(target: Option<u8>, m: Manual) -> TickIn {
    TickIn {
        manual: Some(m),
        ..calm(target)
    }
}

fn canary_spec(router: Router, hooks: Vec<&'static str>) -> SpecGen {
    SpecGen {
        router,
        schedule: Schedule::StepWeight {
            step: 20,
            max: Some(40),
        },
        threshold: 2,
        promotion_step: None,
        mirror: false,
        skip_analysis: false,
        metrics: 0,
        hooks,
    }
}

/// Inputs the spec properties shrank to while their oracles were made exact: lone `\r` line
/// breaks (positions in either line count), a document of another group, and a truncated
/// `apiVersion`.
#[test]
fn shrunk_spec_inputs_stay_within_the_properties() {
    for text in [
        "\r{\n ",
        "~\r\r\n  analysis:\nspec:\n",
        "apiVersion: f",
        "~apiVersion: flagger.app/v1beta1\nkind: Canary\n  ,",
        "apiVersion: \"\"\nkind: Canary\n",
    ] {
        let loaded = load_one("x.yaml", text);
        check_diagnostics("x.yaml", text, &loaded).unwrap();
        check_outcome(text, &loaded).unwrap();
    }
}

/// Rollout sequences the property shrank to while its oracle was made exact.
#[test]
fn shrunk_rollouts_stay_within_the_properties() {
    // A cancelled run forgets its revision (`last_applied_spec: None`), so the next tick starts
    // a run even though the target equals the recorded promoted revision (§2.4 rule 1).
    let mut w = World::new(
        canary_spec(Router::Nginx, Vec::new()).plan(),
        initialized_on_v0(),
    );
    w.run(&[
        calm(Some(2)),
        calm(None),
        by_hand(None, Manual::Cancel),
        calm(None),
    ])
    .unwrap();
    assert_eq!(w.state.phase, Phase::Progressing);
    assert_eq!(w.state.last_applied_spec.as_deref(), Some("v2"));

    // The target put back to the primary's spec mid-run is not a new revision (Flagger's
    // `HasTargetChanged`, §2.4): the run goes on to Succeeded and, as in Flagger, records the
    // analysed revision as promoted (the property exempts this case).
    let mut spec = canary_spec(Router::Kubernetes, Vec::new());
    spec.schedule = Schedule::BlueGreen(1);
    let mut w = World::new(spec.plan(), initialized_on_v0());
    w.run(&[
        calm(Some(1)),
        calm(Some(0)),
        calm(None),
        calm(None),
        calm(None),
        calm(None),
    ])
    .unwrap();
    assert_eq!(w.state.phase, Phase::Succeeded);
}

/// Was a bug, fixed: `canary-gate promote` while a confirm-rollout gate holds a new revision (phase
/// `Waiting`) copies the live target, v1, into the primary; but `manual::promote`
/// (src/rollout/manual.rs:60-77) does not see the target and leaves `last_applied_spec` at v0,
/// which Finalising (src/rollout/tick.rs:357) then records as `last_promoted_spec`. The canary
/// ends `Succeeded` claiming v0 is promoted while the primary runs v1, and the next tick starts
/// a new analysis of v1, which the primary already runs. The same happens when the target
/// changed since the last tick of a run. (§2.1: `lastPromotedSpec` is the template on the
/// primary.)
#[test]
fn regression_manual_promote_records_the_revision_it_promotes() {
    let plan = canary_spec(Router::Nginx, vec!["confirm-rollout"]).plan();
    let obs = Observed {
        target_hash: "v1".into(),
        tracked_configs: BTreeMap::new(),
        canary: Health::Ready,
        primary: Health::Ready,
        routes: Routes {
            primary: 100,
            canary: 0,
            mirrored: false,
        },
    };
    let closed = BTreeMap::from([(CheckKind::ConfirmRollout, GateOutcome::Closed("403".into()))]);
    let Step::Decided(waiting) = step(&plan, &initialized_on_v0(), &obs, &closed) else {
        panic!("expected a decision");
    };
    assert_eq!(waiting.state.phase, Phase::Waiting);
    let promoted = manual::promote(&plan, &waiting.state, &obs).unwrap();
    assert_eq!(promoted.actions, vec![Action::PromotePrimary]);
    // The executor copies the live target (v1) into the primary; the ticks then finish.
    let mut state = promoted.state;
    for _ in 0..2 {
        let Step::Decided(d) = step(&plan, &state, &obs, &BTreeMap::new()) else {
            panic!("expected a decision");
        };
        state = d.state;
    }
    assert_eq!(state.phase, Phase::Succeeded);
    assert_eq!(
        state.last_promoted_spec.as_deref(),
        Some("v1"),
        "the primary runs v1"
    );
    let Step::Decided(next) = step(&plan, &state, &obs, &closed) else {
        panic!("expected a decision");
    };
    assert_eq!(
        next.state.phase,
        Phase::Succeeded,
        "no new run for the revision already on the primary"
    );
}

/// Was a bug, fixed: a key missing its `:` is reported at the start of its line, but the column is the byte
/// length of the indentation plus one, and `trim_start` also strips Unicode blanks YAML does not
/// indent with (src/spec/yaml.rs:182). Columns count characters (`Pos`), so a line starting with
/// a no-break space gets column 3 for its second character, and `\u{2028},` gets column 4 on a
/// line of two characters. Shrunk from `load_survives_yaml_token_soup`.
#[test]
fn regression_missing_colon_column_counts_characters() {
    let l = load_one("x.yaml", "\u{a0}kind Canary\napiVersion: x\n");
    assert_eq!(l.diagnostics.len(), 1, "{:?}", l.diagnostics);
    let d = &l.diagnostics[0];
    assert!(d.message.contains("(missing ':'?)"), "{d}");
    assert!(
        (1..=2).contains(&d.column),
        "column 1 (YAML indents with spaces only) or 2 (the first non-blank character): {d}"
    );
    let text = "\u{2028},\n<<: *a\n";
    let l = load_one("x.yaml", text);
    assert!(!l.diagnostics.is_empty());
    for d in &l.diagnostics {
        assert!(position_inside(text, d.line, d.column), "{d}");
    }
}
