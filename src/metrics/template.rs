//! Rendering a MetricTemplate query or an inline query: `{{ namespace }}`, `{{ name }}`,
//! `{{ target }}`, `{{ service }}`, `{{ ingress }}`, `{{ route }}`, `{{ interval }}`,
//! `{{ variables.<key> }}`. A missing variable is an error naming it (Flagger's
//! `missingkey=error`). Go template pipelines and control flow are not supported.

use std::collections::BTreeMap;

/// The values a query may use.
pub struct Model<'a> {
    /// Canary name.
    pub name: &'a str,
    /// Canary namespace.
    pub namespace: &'a str,
    /// Target name.
    pub target: &'a str,
    /// Apex Service name.
    pub service: &'a str,
    /// Ingress name (default: the target's).
    pub ingress: &'a str,
    /// Route name (default: the target's).
    pub route: &'a str,
    /// The metric's interval as written.
    pub interval: &'a str,
    /// `templateVariables`.
    pub variables: &'a BTreeMap<String, String>,
}

/// The query with every action replaced.
pub fn render(query: &str, m: &Model<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("a template action \"{{\" is never closed")?;
        let action = after[..end]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let word = action.trim_start_matches('.');
        let value = match word {
            "name" => m.name.to_string(),
            "namespace" => m.namespace.to_string(),
            "target" => m.target.to_string(),
            "service" => m.service.to_string(),
            "ingress" => m.ingress.to_string(),
            "route" => m.route.to_string(),
            "interval" => m.interval.to_string(),
            other => match other.strip_prefix("variables.") {
                Some(key) => m.variables.get(key).cloned().ok_or_else(|| {
                    format!("template variable {key:?} is not set (templateVariables)")
                })?,
                None => {
                    return Err(format!(
                        "template action {{{{ {action} }}}} is not supported"
                    ));
                }
            },
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_names_missing_variables() {
        let vars = BTreeMap::from([("path".to_string(), "root".to_string())]);
        let m = Model {
            name: "c",
            namespace: "test",
            target: "podinfo",
            service: "podinfo",
            ingress: "podinfo",
            route: "podinfo",
            interval: "1m",
            variables: &vars,
        };
        assert_eq!(
            render(
                "rate(x{ns=\"{{ namespace }}\", p=\"{{variables.path}}\"}[{{ interval }}])\n  > 1",
                &m
            )
            .unwrap(),
            "rate(x{ns=\"test\", p=\"root\"}[1m]) > 1"
        );
        assert!(
            render("{{ variables.nope }}", &m)
                .unwrap_err()
                .contains("\"nope\"")
        );
    }
}
