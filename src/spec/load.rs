//! From files' text to validated objects: split documents, pick the kind, validate, cross-check.

use crate::spec::de::suggest;
use crate::spec::diag::{Diagnostic, Severity};
use crate::spec::model::{AlertProvider, Canary, MetricTemplate, Origin};
use crate::spec::path::FieldPath;
use crate::spec::validate::{self, template_variables};
use crate::spec::yaml::{Node, Pos, Value, parse_documents};

/// One input file.
#[derive(Clone, Debug)]
pub struct Source {
    /// The name to print (as the user wrote it, or relative to the workspace).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Everything read from a set of files.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid canaries, in file and document order.
    pub canaries: Vec<Canary>,
    /// Valid metric templates.
    pub templates: Vec<MetricTemplate>,
    /// Valid alert providers.
    pub alert_providers: Vec<AlertProvider>,
    /// Documents that are not Flagger objects (a Deployment next to its Canary): skipped.
    pub skipped: Vec<(String, String)>,
    /// Every finding, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// The template a metric of `canary` refers to by `name`/`namespace`, when it is in the files.
    pub fn template_for(
        &self,
        canary: &Canary,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<&MetricTemplate> {
        let want = namespace.or(canary.namespace.as_deref());
        self.templates
            .iter()
            .find(|t| named(&t.name, t.namespace.as_deref(), name, want))
    }
}

impl Loaded {
    /// The AlertProvider `name` (in `namespace`, else the canary's) among the files.
    pub fn alert_provider_for(
        &self,
        canary: &Canary,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<&AlertProvider> {
        let want = namespace.or(canary.namespace.as_deref());
        self.alert_providers
            .iter()
            .find(|p| named(&p.name, p.namespace.as_deref(), name, want))
    }
}

/// Whether an object `(name, namespace)` of the files is the one a reference names (a side
/// without a namespace matches any).
fn named(name: &str, namespace: Option<&str>, want: &str, want_ns: Option<&str>) -> bool {
    name == want
        && match (namespace, want_ns) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

const FLAGGER_KINDS: &[&str] = &["Canary", "MetricTemplate", "AlertProvider"];

/// Reads and validates every document of every source.
pub fn load(sources: &[Source]) -> Loaded {
    let mut out = Loaded::default();
    for src in sources {
        let docs = match parse_documents(&src.text) {
            Ok(docs) => docs,
            Err(e) => {
                out.diagnostics.push(Diagnostic::new(
                    Severity::Error,
                    &src.name,
                    e.pos,
                    FieldPath::root(),
                    format!("invalid YAML: {}", e.message),
                ));
                continue;
            }
        };
        for doc in docs {
            document(&mut out, &src.name, doc);
        }
    }
    cross_check(&mut out);
    let order = |file: &str| {
        sources
            .iter()
            .position(|s| s.name == file)
            .unwrap_or(usize::MAX)
    };
    out.diagnostics
        .sort_by_key(|d| (order(&d.file), d.line, d.column));
    out
}

fn document(out: &mut Loaded, file: &str, doc: Node) {
    let err = |out: &mut Loaded, pos: Pos, path: FieldPath, msg: String| {
        out.diagnostics
            .push(Diagnostic::new(Severity::Error, file, pos, path, msg));
    };
    if !matches!(doc.value, Value::Map(_)) {
        let what = doc.value.describe();
        err(
            out,
            doc.pos,
            FieldPath::root(),
            format!("expected a Kubernetes object (a mapping), found {what}"),
        );
        return;
    }
    let api_version = doc
        .get("apiVersion")
        .and_then(Node::as_str)
        .map(str::to_string);
    let kind = doc.get("kind").and_then(Node::as_str).map(str::to_string);
    let (api_version, kind) = match (api_version, kind) {
        (Some(a), Some(k)) => (a, k),
        (a, k) => {
            let missing = if a.is_none() { "apiVersion" } else { "kind" };
            let flagger = a.as_deref().is_some_and(|a| a.starts_with("flagger.app/"))
                || k.as_deref().is_some_and(|k| FLAGGER_KINDS.contains(&k));
            if flagger || (a.is_none() && k.is_none()) {
                let path = FieldPath::root().key(missing);
                let msg = if doc.get(missing).is_some() {
                    "must be a string"
                } else {
                    "required field is missing"
                };
                err(out, path.pos_in(&doc), path, msg.to_string());
            }
            return;
        }
    };
    let Some(("flagger.app", version)) = api_version.split_once('/') else {
        out.skipped
            .push((file.to_string(), format!("{api_version} {kind}")));
        return;
    };
    if version != "v1beta1" {
        let path = FieldPath::root().key("apiVersion");
        err(
            out,
            path.pos_in(&doc),
            path,
            format!("{api_version:?} is not supported: use flagger.app/v1beta1"),
        );
        return;
    }
    let origin = Origin {
        file: file.to_string(),
        doc,
    };
    match kind.as_str() {
        "Canary" => {
            if let Some(c) = validate::canary(origin, &mut out.diagnostics) {
                out.canaries.push(c);
            }
        }
        "MetricTemplate" => {
            if let Some(t) = validate::metric_template(origin, &mut out.diagnostics) {
                out.templates.push(t);
            }
        }
        "AlertProvider" => {
            if let Some(a) = validate::alert_provider(origin, &mut out.diagnostics) {
                out.alert_providers.push(a);
            }
        }
        other => {
            let path = FieldPath::root().key("kind");
            let hint = suggest(other, FLAGGER_KINDS)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            let msg = format!(
                "{other:?} is not a flagger.app kind (Canary, MetricTemplate, AlertProvider){hint}"
            );
            err(out, path.pos_in(&origin.doc), path, msg);
        }
    }
}

/// Rules across documents: two canaries of one name, template references and their variables.
/// A canary with an error here is dropped from the valid list.
fn cross_check(out: &mut Loaded) {
    let mut found = Vec::new();
    let mut failed = vec![false; out.canaries.len()];
    for (i, c) in out.canaries.iter().enumerate() {
        let earlier = out.canaries[..i]
            .iter()
            .find(|o| o.name == c.name && o.namespace == c.namespace);
        if let Some(o) = earlier {
            found.push(c.origin.diag(
                Severity::Warning,
                &FieldPath::of(&["metadata", "name"]),
                format!(
                    "Canary {:?} is also defined at {}:{}; applying both would keep only the last",
                    c.name, o.origin.file, o.origin.doc.pos.line
                ),
            ));
        }
        for a in &c.analysis.alerts {
            let (name, ns) = (&a.provider.name, a.provider.namespace.as_deref());
            let at = a.path.key("providerRef").key("name");
            let severity = format!("{:?}", a.severity).to_lowercase();
            let said = match out.alert_provider_for(c, name, ns) {
                None => format!(
                    "AlertProvider {name:?} is not in these files; it will be read from the cluster"
                ),
                Some(p) => format!(
                    "{severity} alerts go to {} AlertProvider {name:?}{}",
                    format!("{:?}", p.kind).to_lowercase(),
                    p.channel
                        .as_ref()
                        .map(|ch| format!(", channel {ch}"))
                        .unwrap_or_default()
                ),
            };
            found.push(c.origin.diag(Severity::Notice, &at, said));
        }
        for m in &c.analysis.metrics {
            let Some(r) = &m.template else { continue };
            let Some(t) = out.template_for(c, &r.name, r.namespace.as_deref()) else {
                found.push(c.origin.diag(
                    Severity::Notice,
                    &m.path.key("templateRef").key("name"),
                    format!("MetricTemplate {:?} is not in these files; it will be read from the cluster", r.name),
                ));
                continue;
            };
            for key in template_variables(&t.query) {
                if !m.variables.contains_key(&key) {
                    failed[i] = true;
                    found.push(c.origin.diag(
                        Severity::Error,
                        &m.path.key("templateVariables"),
                        format!("MetricTemplate {:?} uses {{{{ variables.{key} }}}}, which this metric does not set", t.name),
                    ));
                }
            }
        }
    }
    out.diagnostics.extend(found);
    let mut failed = failed.into_iter();
    out.canaries.retain(|_| !failed.next().unwrap_or(false));
}
