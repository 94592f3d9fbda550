//! Rules for `MetricTemplate` and `AlertProvider` documents, and the variables a template needs.

use super::canary::object_name;
use super::{Ctx, read_doc};
use crate::spec::diag::Diagnostic;
use crate::spec::model::{
    AlertProvider, METRICS_AUTH_ANNOTATION, MetricProviderType, MetricTemplate, MetricsAuth, Origin,
};
use crate::spec::path::FieldPath;
use crate::spec::wire::{AlertProviderDoc, MetricTemplateDoc, ObjectMeta};

/// Functions a Flagger metric template may call, and Go's template builtins and keywords.
const TEMPLATE_WORDS: &[&str] = &[
    "name",
    "namespace",
    "target",
    "service",
    "ingress",
    "route",
    "interval",
    "variables",
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "call",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "nil",
    "break",
    "continue",
    "true",
    "false",
];

/// Validates one `MetricTemplate` document.
pub fn metric_template(origin: Origin, diags: &mut Vec<Diagnostic>) -> Option<MetricTemplate> {
    let doc: MetricTemplateDoc = read_doc(&origin, diags)?;
    let mut cx = Ctx::new(&origin, diags);
    let names = object_name(&mut cx, &doc.metadata);
    let spec_path = FieldPath::of(&["spec"]);
    let Some(spec) = doc.spec else {
        cx.error(&spec_path, "required field is missing");
        return None;
    };
    let provider_path = spec_path.key("provider");
    let provider = match &spec.provider {
        None => {
            cx.error(&provider_path, "required field is missing");
            None
        }
        Some(p) => {
            if p.kind.is_none() {
                cx.error(
                    &provider_path.key("type"),
                    "required field is missing (e.g. type: prometheus)",
                );
            }
            // Flagger's CRD takes any text here (its documentation writes placeholders such as
            // `https://api.<REALM>.signalfx.com`): a warning, and a check against it fails.
            if let Some(why) = p.address.as_deref().and_then(super::url_problem) {
                cx.warn(
                    &provider_path.key("address"),
                    format!("{why}: a check that uses this template will fail until it is one"),
                );
            }
            if let Some(k) = p.kind
                && k != MetricProviderType::Prometheus
            {
                cx.warn(
                    &provider_path.key("type"),
                    format!("{} is a valid Flagger provider, but canary-gate queries only prometheus yet", k.as_str()),
                );
            }
            Some(p.clone())
        }
    };
    let cloud_auth = metrics_auth(&mut cx, &doc.metadata);
    let query_path = spec_path.key("query");
    let query = match spec.query {
        None => {
            cx.error(&query_path, "required field is missing");
            None
        }
        Some(q) if q.trim().is_empty() => {
            cx.error(&query_path, "must not be empty");
            None
        }
        Some(q) => {
            if let Some(why) = template_syntax(&q) {
                cx.error(&query_path, why);
            }
            Some(q)
        }
    };
    if cx.errors > 0 {
        return None;
    }
    let (name, namespace) = names?;
    let provider = provider?;
    let kind = provider.kind?;
    Some(MetricTemplate {
        origin: origin.clone(),
        name,
        namespace,
        provider: kind,
        address: provider.address,
        headers: provider.headers.unwrap_or_default(),
        secret: provider.secret_ref.map(|s| s.name),
        region: provider.region,
        insecure_skip_verify: provider.insecure_skip_verify.unwrap_or(false),
        query: query?,
        cloud_auth,
    })
}

/// The `canary-gate.dev/metrics-auth` annotation, when set.
fn metrics_auth(cx: &mut Ctx, meta: &ObjectMeta) -> Option<MetricsAuth> {
    let value = meta.annotations.as_ref()?.get(METRICS_AUTH_ANNOTATION)?;
    let parsed = MetricsAuth::parse(value);
    if parsed.is_none() {
        let path = FieldPath::of(&["metadata", "annotations", METRICS_AUTH_ANNOTATION]);
        cx.error(
            &path,
            format!("{value:?} is not one of {}", MetricsAuth::VALUES),
        );
    }
    parsed
}

/// Validates one `AlertProvider` document.
pub fn alert_provider(origin: Origin, diags: &mut Vec<Diagnostic>) -> Option<AlertProvider> {
    let doc: AlertProviderDoc = read_doc(&origin, diags)?;
    let mut cx = Ctx::new(&origin, diags);
    let names = object_name(&mut cx, &doc.metadata);
    let spec_path = FieldPath::of(&["spec"]);
    let Some(s) = &doc.spec else {
        cx.error(&spec_path, "required field is missing");
        return None;
    };
    if s.kind.is_none() {
        cx.error(
            &spec_path.key("type"),
            "required field is missing (slack, msteams, discord, rocket or gchat)",
        );
    }
    match (&s.address, &s.secret_ref) {
        (None, None) => cx.error(&spec_path, "set address or secretRef"),
        (Some(_), Some(_)) => cx.error_at_key(
            &spec_path.key("secretRef"),
            "cannot be combined with address: Flagger's CRD accepts exactly one of address, secretRef",
        ),
        (Some(a), None) => {
            cx.http_url(&spec_path.key("address"), a);
        }
        (None, Some(_)) => {}
    }
    if let Some(p) = &s.proxy {
        cx.http_url(&spec_path.key("proxy"), p);
    }
    if cx.errors > 0 {
        return None;
    }
    let (name, namespace) = names?;
    Some(AlertProvider {
        origin: Some(origin.clone()),
        name,
        namespace,
        kind: s.kind?,
        channel: s.channel.clone(),
        username: s.username.clone(),
        address: s.address.clone(),
        proxy: s.proxy.clone(),
        secret: s.secret_ref.as_ref().map(|r| r.name.clone()),
    })
}

/// The `{{ ... }}` actions of a Go template, trimmed of `-` markers.
fn actions(query: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("a template action \"{{\" is never closed with \"}}\"".into());
        };
        let inner = after[..end]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push(inner);
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// What is wrong with the template's syntax, if anything canary-gate can tell without running it.
fn template_syntax(query: &str) -> Option<String> {
    let actions = match actions(query) {
        Ok(a) => a,
        Err(why) => return Some(why),
    };
    for action in actions {
        if action.starts_with("/*")
            || action.starts_with('$')
            || action.starts_with('.')
            || action.starts_with('(')
        {
            continue;
        }
        let word: String = action
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty()
            && !word.starts_with(|c: char| c.is_ascii_digit())
            && !TEMPLATE_WORDS.contains(&word.as_str())
        {
            let hint = crate::spec::de::suggest(&word, TEMPLATE_WORDS)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            return Some(format!(
                "{{{{ {word} }}}} is not a template function (Flagger provides name, namespace, target, service, ingress, route, interval, variables){hint}"
            ));
        }
    }
    None
}

/// The keys a template reads as `{{ variables.<key> }}`, in order of first use.
pub fn template_variables(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for action in actions(query).unwrap_or_default() {
        let mut rest = action;
        while let Some(i) = rest.find("variables.") {
            let after = &rest[i + "variables.".len()..];
            let key: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !key.is_empty() && !out.contains(&key) {
                out.push(key);
            }
            rest = after;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_variables() {
        let q = r#"sum(rate(x{ns="{{ namespace }}", d="{{ variables.direction }}"}[{{ interval }}])) > {{- variables.limit -}}"#;
        assert_eq!(template_variables(q), vec!["direction", "limit"]);
        assert_eq!(template_syntax(q), None);
    }

    #[test]
    fn a_placeholder_address_is_a_warning_as_flaggers_crd_accepts_it() {
        let text = "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: sfx, namespace: test}\nspec:\n  provider: {type: splunk, address: 'https://api.<REALM>.signalfx.com', secretRef: {name: sfx}}\n  query: data('x').mean()\n";
        let loaded = crate::spec::load(&[crate::spec::Source {
            name: "t.yaml".into(),
            text: text.into(),
        }]);
        assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
        assert_eq!(loaded.templates.len(), 1);
        let warned = loaded.diagnostics.iter().any(|d| {
            d.message.contains("<REALM>") && d.message.contains("will fail until it is one")
        });
        assert!(warned, "{:?}", loaded.diagnostics);
    }

    /// Loads a canary whose one metric is `metric` (flow YAML), with a Graphite template.
    fn canary_with_metric(metric: &str) -> crate::spec::Loaded {
        let text = format!(
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app, namespace: test}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app}}\n  service: {{port: 80}}\n  analysis:\n    interval: 10s\n    threshold: 2\n    iterations: 2\n    metrics:\n      - {metric}\n---\napiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {{name: g, namespace: test}}\nspec:\n  provider: {{type: graphite, address: 'http://graphite:8080'}}\n  query: summarize(x, '{{{{ interval }}}}', 'sum')\n"
        );
        crate::spec::load(&[crate::spec::Source {
            name: "c.yaml".into(),
            text,
        }])
    }

    #[test]
    fn a_template_metric_takes_its_providers_interval_text_as_flagger_does() {
        let ok = canary_with_metric(
            "{name: g, templateRef: {name: g}, interval: 1min, thresholdRange: {max: 5}}",
        );
        assert_eq!(ok.errors(), 0, "{:?}", ok.diagnostics);
        assert!(
            ok.diagnostics
                .iter()
                .any(|d| d.message.contains("passed to the template as it is"))
        );
        // The CRD's pattern still binds it, and built-in and inline queries are PromQL windows.
        let bad = canary_with_metric(
            "{name: g, templateRef: {name: g}, interval: min1, thresholdRange: {max: 5}}",
        );
        assert_eq!(bad.errors(), 1, "{:?}", bad.diagnostics);
        let builtin = canary_with_metric(
            "{name: request-success-rate, interval: 1min, thresholdRange: {min: 99}}",
        );
        assert_eq!(builtin.errors(), 1, "{:?}", builtin.diagnostics);
    }

    #[test]
    fn only_canary_analysis_is_read_as_flaggers_controller_reads_it_with_a_warning() {
        let text = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: app, namespace: test}\nspec:\n  provider: kubernetes\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}\n  service: {port: 80}\n  canaryAnalysis: {interval: 10s, threshold: 2, iterations: 3}\n";
        let loaded = crate::spec::load(&[crate::spec::Source {
            name: "c.yaml".into(),
            text: text.into(),
        }]);
        assert_eq!(loaded.errors(), 0, "{:?}", loaded.diagnostics);
        assert_eq!(loaded.canaries[0].analysis.iterations, 3);
        let warned = loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("Flagger's CRD requires analysis"));
        assert!(warned, "{:?}", loaded.diagnostics);
    }

    #[test]
    fn rejects_unknown_functions_and_unclosed_actions() {
        let bad = template_syntax("x{ns=\"{{ namespce }}\"}").unwrap();
        assert!(bad.contains("did you mean \"namespace\""), "{bad}");
        assert!(template_syntax("x{{ namespace ").is_some());
    }
}
