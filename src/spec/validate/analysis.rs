//! Rules for `spec.analysis`: the CRD's `oneOf`, weights, iterations, metrics, webhooks, alerts
//! and session affinity.

use super::Ctx;
use super::support;
use crate::spec::model::*;
use crate::spec::path::FieldPath;
use crate::spec::wire::{self, WebhookType};
use std::collections::HashSet;
use std::time::Duration;

/// Below this Flagger clamps the interval; canary-gate honours it (with a warning).
const FLAGGER_MIN_INTERVAL: Duration = Duration::from_secs(10);

pub(super) fn analysis(
    cx: &mut Ctx<'_>,
    path: &FieldPath,
    a: &wire::Analysis,
    p: Provider,
) -> Option<Analysis> {
    let interval = interval(cx, path, a.interval.as_deref());
    let threshold = threshold(cx, path, a.threshold);

    one_of(cx, path, a);
    let iterations = a
        .iterations
        .and_then(|v| cx.int_in(&path.key("iterations"), v, 1, 10_000));
    let step_weight = a
        .step_weight
        .and_then(|v| weight(cx, &path.key("stepWeight"), v));
    let step_weights = step_weights(cx, path, a.step_weights.as_deref());
    let max_weight = a
        .max_weight
        .and_then(|v| cx.int_in(&path.key("maxWeight"), v, 1, 100));
    max_weight_ignored(cx, path, a);
    let step_weight_promotion = a.step_weight_promotion.map_or(Some(0), |v| {
        cx.int_in(&path.key("stepWeightPromotion"), v, 0, 100)
    });
    let mirror_weight = a.mirror_weight.map_or(Some(100), |v| {
        cx.int_in(&path.key("mirrorWeight"), v, 0, 100)
    });
    let primary_ready = a.primary_ready_threshold.map_or(Some(100), |v| {
        cx.int_in(&path.key("primaryReadyThreshold"), v, 0, 100)
    });
    let canary_ready = a.canary_ready_threshold.map_or(Some(100), |v| {
        cx.int_in(&path.key("canaryReadyThreshold"), v, 0, 100)
    });
    let mirror = a.mirror.unwrap_or(false);
    if mirror && !support::supports_mirror(p) && p != Provider::Kubernetes {
        cx.warn(
            &path.key("mirror"),
            format!("ignored: provider {} cannot mirror traffic", p.as_str()),
        );
    }

    let matches = a.matches.clone().unwrap_or_default();
    for (i, m) in matches.iter().enumerate() {
        string_matches(cx, &path.key("match").index(i), m);
    }
    if !matches.is_empty() {
        ab_warnings(cx, path, a, &matches, p);
    }

    let metrics = metrics(cx, path, a.metrics.as_deref().unwrap_or_default());
    let webhooks = webhooks(cx, path, a.webhooks.as_deref().unwrap_or_default());
    let alerts = alerts(cx, path, a.alerts.as_deref().unwrap_or_default());
    let session_affinity = a
        .session_affinity
        .as_ref()
        .and_then(|s| session_affinity(cx, &path.key("sessionAffinity"), s, p));

    Some(Analysis {
        path: path.clone(),
        interval: interval?,
        threshold: threshold?,
        iterations: iterations.unwrap_or(0),
        max_weight,
        step_weight,
        step_weights: step_weights?,
        step_weight_promotion: step_weight_promotion?,
        mirror,
        mirror_weight: mirror_weight?,
        primary_ready_threshold: primary_ready?,
        canary_ready_threshold: canary_ready?,
        matches,
        metrics: metrics?,
        webhooks: webhooks?,
        alerts,
        session_affinity,
    })
}

/// Validates `interval`: required and positive, with a warning when below Flagger's minimum.
fn interval(cx: &mut Ctx<'_>, path: &FieldPath, text: Option<&str>) -> Option<Duration> {
    let Some(text) = text else {
        cx.error(
            &path.key("interval"),
            "required field is missing (e.g. interval: 1m)",
        );
        return None;
    };
    let at = path.key("interval");
    match cx.duration(&at, text) {
        Some(d) if d.is_zero() => {
            cx.error(&at, "must be greater than 0");
            None
        }
        Some(d) => {
            if d < FLAGGER_MIN_INTERVAL {
                cx.warn(
                    &at,
                    format!("{text} is below Flagger's 10s minimum; canary-gate honours it (Flagger would use 10s)"),
                );
            }
            Some(d)
        }
        None => None,
    }
}

/// Validates `threshold`: required, with values of 0 or less treated as 1 as Flagger does.
fn threshold(cx: &mut Ctx<'_>, path: &FieldPath, threshold: Option<i64>) -> Option<u32> {
    match threshold {
        None => {
            cx.error(
                &path.key("threshold"),
                "required field is missing (failed checks before rollback, e.g. threshold: 5)",
            );
            None
        }
        Some(t) if t <= 0 => {
            cx.warn(
                &path.key("threshold"),
                format!("{t} is treated as 1, as Flagger does"),
            );
            Some(1)
        }
        Some(t) => cx.int_in(&path.key("threshold"), t, 1, i64::from(u32::MAX)),
    }
}

/// Warns that `maxWeight` is ignored when `stepWeights` or `iterations` decide the weights.
fn max_weight_ignored(cx: &mut Ctx<'_>, path: &FieldPath, a: &wire::Analysis) {
    if a.max_weight.is_some() && (a.step_weights.is_some() || a.iterations.is_some()) {
        let why = if a.step_weights.is_some() {
            "stepWeights sets the last weight"
        } else {
            "iterations do not shift weights"
        };
        cx.warn(&path.key("maxWeight"), format!("ignored: {why}"));
    }
}

/// The CRD's `oneOf`: exactly one of `iterations`, `stepWeight`, `stepWeights`.
fn one_of(cx: &mut Ctx<'_>, path: &FieldPath, a: &wire::Analysis) {
    let set: Vec<&str> = [
        ("iterations", a.iterations.is_some()),
        ("stepWeight", a.step_weight.is_some()),
        ("stepWeights", a.step_weights.is_some()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(n, _)| n)
    .collect();
    match set.as_slice() {
        [] => cx.error(
            path,
            "set one of iterations (A/B, blue/green), stepWeight or stepWeights (canary)",
        ),
        [_] => {}
        [first, rest @ ..] => {
            for other in rest {
                cx.error_at_key(
                    &path.key(other),
                    format!("cannot be combined with {first}: Flagger's CRD accepts exactly one of iterations, stepWeight, stepWeights"),
                );
            }
        }
    }
}

fn weight(cx: &mut Ctx<'_>, path: &FieldPath, v: i64) -> Option<u32> {
    if v <= 0 {
        cx.error(
            path,
            format!("{v} must be greater than 0 (the canary would never receive traffic)"),
        );
        return None;
    }
    if v > 100 {
        cx.warn(
            path,
            format!("{v} is above 100; the canary weight is capped at 100"),
        );
    }
    u32::try_from(v).ok()
}

fn step_weights(cx: &mut Ctx<'_>, path: &FieldPath, list: Option<&[i64]>) -> Option<Vec<u32>> {
    let at = path.key("stepWeights");
    let Some(list) = list else {
        return Some(Vec::new());
    };
    if list.is_empty() {
        cx.error(&at, "must list at least one weight");
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, &v) in list.iter().enumerate() {
        let p = at.index(i);
        match weight(cx, &p, v) {
            Some(w) => {
                if let Some(&prev) = out.last()
                    && w <= prev
                {
                    cx.error(&p, format!("{w} is not greater than the previous weight {prev}: weights must increase"));
                    ok = false;
                }
                out.push(w);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Each `{exact|prefix|suffix|regex}` condition sets exactly one of them.
pub(super) fn string_matches(cx: &mut Ctx<'_>, path: &FieldPath, m: &HttpMatch) {
    let single = [
        ("uri", m.uri.as_ref()),
        ("scheme", m.scheme.as_ref()),
        ("method", m.method.as_ref()),
        ("authority", m.authority.as_ref()),
    ];
    for (field, cond) in single {
        if let Some(c) = cond {
            one_condition(cx, &path.key(field), c);
        }
    }
    let maps = [
        ("headers", m.headers.as_ref()),
        ("queryParams", m.query_params.as_ref()),
        ("withoutHeaders", m.without_headers.as_ref()),
    ];
    for (field, map) in maps {
        for (name, c) in map.into_iter().flatten() {
            one_condition(cx, &path.key(field).key(name), c);
        }
    }
}

fn one_condition(cx: &mut Ctx<'_>, path: &FieldPath, c: &StringMatch) {
    let n = [&c.exact, &c.prefix, &c.suffix, &c.regex]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if n != 1 {
        cx.error(
            path,
            format!("set exactly one of exact, prefix, suffix or regex (found {n})"),
        );
    }
    if let Some(r) = &c.regex
        && r.is_empty()
    {
        cx.error(&path.key("regex"), "must not be empty");
    }
}

/// What the chosen router does with A/B conditions.
fn ab_warnings(
    cx: &mut Ctx<'_>,
    path: &FieldPath,
    a: &wire::Analysis,
    matches: &[HttpMatch],
    p: Provider,
) {
    let at = path.key("match");
    if a.iterations.is_none() {
        cx.warn(
            &at,
            "ignored: A/B testing needs iterations (with stepWeight(s) this is a canary)",
        );
        return;
    }
    if p == Provider::Kubernetes {
        cx.warn(
            &at,
            "ignored: provider kubernetes has no L7 routing, so Flagger runs blue/green",
        );
        return;
    }
    if !support::supports_ab(p) {
        cx.warn(
            &at,
            format!(
                "ignored: provider {} does not implement A/B testing",
                p.as_str()
            ),
        );
        return;
    }
    if p != Provider::Nginx {
        return;
    }
    let mut headers = 0;
    for (i, m) in matches.iter().enumerate() {
        let mp = at.index(i);
        let unused = [
            ("uri", m.uri.is_some()),
            ("method", m.method.is_some()),
            ("queryParams", m.query_params.is_some()),
            ("sourceLabels", m.source_labels.is_some()),
            ("withoutHeaders", m.without_headers.is_some()),
            ("scheme", m.scheme.is_some()),
            ("authority", m.authority.is_some()),
        ];
        for (field, set) in unused {
            if set {
                cx.warn(
                    &mp.key(field),
                    "ignored by provider nginx: only headers and the cookie header are matched",
                );
            }
        }
        for (name, c) in m.headers.iter().flatten() {
            let hp = mp.key("headers").key(name);
            if name.eq_ignore_ascii_case("cookie") {
                if c.exact.is_none() {
                    cx.warn(
                        &hp,
                        "ignored by provider nginx: a cookie match needs exact (the cookie name)",
                    );
                }
            } else {
                headers += 1;
                if c.prefix.is_some() || c.suffix.is_some() {
                    cx.warn(
                        &hp,
                        "ignored by provider nginx: headers match exact or regex only",
                    );
                }
                if headers > 1 {
                    cx.warn(
                        &hp,
                        "NGINX routes on one header: the last header condition wins",
                    );
                }
            }
        }
    }
}

/// Validates each entry of a named list (`metrics`, `webhooks`): warns on a repeated name and
/// returns the entries only when none had an error.
fn each_named<W, T>(
    cx: &mut Ctx<'_>,
    list_path: &FieldPath,
    list: &[W],
    name_of: impl Fn(&W) -> &str,
    mut one: impl FnMut(&mut Ctx<'_>, &FieldPath, &W) -> Option<T>,
) -> Option<Vec<T>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let before = cx.errors;
    for (i, item) in list.iter().enumerate() {
        let at = list_path.index(i);
        let name = name_of(item);
        if !seen.insert(name) {
            cx.warn(
                &at.key("name"),
                format!("{name:?} is already listed above; reports will show both"),
            );
        }
        if let Some(v) = one(cx, &at, item) {
            out.push(v);
        }
    }
    (cx.errors == before).then_some(out)
}

fn metrics(cx: &mut Ctx<'_>, path: &FieldPath, list: &[wire::Metric]) -> Option<Vec<Metric>> {
    each_named(cx, &path.key("metrics"), list, |m| m.name.as_str(), metric)
}

fn metric(cx: &mut Ctx<'_>, at: &FieldPath, m: &wire::Metric) -> Option<Metric> {
    let builtin = Builtin::from_name(&m.name);
    if builtin.is_none() && m.template_ref.is_none() && m.query.is_none() {
        cx.error(
            &at.key("name"),
            format!(
                "{:?} is not a built-in metric (request-success-rate, request-duration) and has no templateRef or query",
                m.name
            ),
        );
        return None;
    }
    if m.template_ref.is_some() && m.query.is_some() {
        cx.warn(&at.key("query"), "ignored: templateRef is set");
    }
    if m.query.is_some() && m.template_ref.is_none() {
        cx.notice(
            &at.key("query"),
            "inline queries are deprecated in Flagger; a MetricTemplate can be reused",
        );
    }
    let templated = m.template_ref.is_some() && builtin.is_none();
    let interval = match &m.interval {
        Some(text) if templated => template_interval(cx, &at.key("interval"), text).ok()?,
        Some(text) => Some(cx.duration(&at.key("interval"), text)?),
        None if !templated => Some(Duration::from_secs(60)),
        None => None,
    };
    let (mut min, mut max) = (None, None);
    if let Some(r) = &m.threshold_range {
        (min, max) = (r.min, r.max);
        if min.is_none() && max.is_none() {
            cx.error(&at.key("thresholdRange"), "set min, max or both");
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            cx.error(
                &at.key("thresholdRange").key("min"),
                format!("{lo} is greater than max {hi}: no value could pass"),
            );
        }
        if m.threshold.is_some() {
            cx.warn(&at.key("threshold"), "ignored: thresholdRange is set");
        }
    } else if let Some(t) = m.threshold {
        let bound = if builtin == Some(Builtin::RequestSuccessRate) {
            "min"
        } else {
            "max"
        };
        cx.warn(
            &at.key("threshold"),
            format!("deprecated: use thresholdRange: {{{bound}: {t}}}"),
        );
        if bound == "min" {
            min = Some(t);
        } else {
            max = Some(t);
        }
    } else {
        cx.warn(at, "has no thresholdRange: it can never fail");
    }
    let template = m.template_ref.as_ref().map(|t| TemplateRef {
        name: t.name.clone(),
        namespace: t.namespace.clone(),
    });
    Some(Metric {
        path: at.clone(),
        name: m.name.clone(),
        builtin,
        interval,
        interval_text: m.interval.clone(),
        min,
        max,
        template,
        query: m.query.clone(),
        variables: m.template_variables.clone().unwrap_or_default(),
    })
}

fn webhooks(cx: &mut Ctx<'_>, path: &FieldPath, list: &[wire::Webhook]) -> Option<Vec<Webhook>> {
    each_named(
        cx,
        &path.key("webhooks"),
        list,
        |w| w.name.as_str(),
        webhook,
    )
}

fn webhook(cx: &mut Ctx<'_>, at: &FieldPath, w: &wire::Webhook) -> Option<Webhook> {
    let url_ok = cx.http_url(&at.key("url"), &w.url);
    let timeout = match &w.timeout {
        None => Some(Duration::from_secs(10)),
        Some(t) => cx.duration(&at.key("timeout"), t),
    };
    let retries = w
        .retries
        .map_or(Some(0), |r| cx.int_in(&at.key("retries"), r, 0, 100));
    let kind = match w.kind.unwrap_or(WebhookType::Unset) {
        WebhookType::Unset | WebhookType::Rollout => HookKind::Rollout,
        WebhookType::ConfirmRollout => HookKind::ConfirmRollout,
        WebhookType::PreRollout => HookKind::PreRollout,
        WebhookType::ConfirmTrafficIncrease => HookKind::ConfirmTrafficIncrease,
        WebhookType::ConfirmPromotion => HookKind::ConfirmPromotion,
        WebhookType::PostRollout => HookKind::PostRollout,
        WebhookType::Rollback => HookKind::Rollback,
        WebhookType::Event => HookKind::Event,
    };
    if !url_ok {
        return None;
    }
    Some(Webhook {
        path: at.clone(),
        name: w.name.clone(),
        kind,
        url: w.url.clone(),
        timeout: timeout?,
        retries: retries?,
        disable_tls: w.disable_tls.unwrap_or(false),
        mute_alert: w.mute_alert.unwrap_or(false),
        metadata: w.metadata.clone().unwrap_or_default(),
    })
}

fn alerts(_cx: &mut Ctx<'_>, path: &FieldPath, list: &[wire::Alert]) -> Vec<Alert> {
    list.iter()
        .enumerate()
        .map(|(i, a)| Alert {
            path: path.key("alerts").index(i),
            name: a.name.clone(),
            severity: a.severity.unwrap_or(AlertSeverity::Info),
            provider: TemplateRef {
                name: a.provider_ref.name.clone(),
                namespace: a.provider_ref.namespace.clone(),
            },
        })
        .collect()
}

fn session_affinity(
    cx: &mut Ctx<'_>,
    at: &FieldPath,
    s: &wire::SessionAffinity,
    p: Provider,
) -> Option<SessionAffinity> {
    if s.primary_cookie_name.as_deref() == Some(s.cookie_name.as_str()) {
        cx.error(
            &at.key("primaryCookieName"),
            format!("must differ from cookieName {:?}", s.cookie_name),
        );
        return None;
    }
    if !support::supports_session_affinity(p) {
        cx.warn(
            at,
            format!("ignored: provider {} has no session affinity", p.as_str()),
        );
    }
    let max_age = s.max_age.map_or(Some(86_400), |v| {
        cx.int_in(&at.key("maxAge"), v, 0, i64::from(i32::MAX))
    })?;
    Some(SessionAffinity {
        cookie_name: s.cookie_name.clone(),
        primary_cookie_name: s.primary_cookie_name.clone(),
        max_age,
        domain: s.domain.clone(),
        path: s.path.clone(),
        same_site: s.same_site,
        secure: s.secure.unwrap_or(false),
        http_only: s.http_only.unwrap_or(false),
        partitioned: s.partitioned.unwrap_or(false),
    })
}

/// A template metric's `interval`: Flagger passes the text to the template and its provider as it
/// is, so only the CRD's pattern binds it; text Go cannot parse (Graphite's `1min`) is a notice,
/// since only some providers read it as a duration. `Err` when the pattern fails (an error).
fn template_interval(
    cx: &mut Ctx<'_>,
    path: &FieldPath,
    text: &str,
) -> Result<Option<Duration>, ()> {
    use crate::spec::duration::{matches_crd_pattern, parse_go_duration};
    if !matches_crd_pattern(text) {
        // The error `cx.duration` gives for it: not a duration, or not the CRD's pattern.
        cx.duration(path, text);
        return Err(());
    }
    let parsed = parse_go_duration(text);
    if parsed.is_none() {
        cx.notice(
            path,
            format!(
                "{text:?} is passed to the template as it is (Graphite reads 1min); providers that read it as a duration (datadog, newrelic, cloudwatch, dynatrace, splunk) would fail"
            ),
        );
    }
    Ok(parsed)
}
