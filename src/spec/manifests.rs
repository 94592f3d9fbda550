//! The Kubernetes objects beside the specs (`--apply` files, the documents next to a Canary):
//! every document that is not a Flagger object, with its kind and name. Pure: text in, values
//! out.

use crate::error::Error;
use crate::spec;

/// A Kubernetes object from a manifest file.
pub struct Manifest {
    /// The file, as the user named it.
    pub file: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// The document.
    pub doc: serde_json::Value,
}

/// Every document of `sources` that is not a Flagger object. `strict`: each needs apiVersion,
/// kind and metadata.name (what will be applied); otherwise documents without them are skipped
/// (what is only looked at, such as a Kustomization beside the specs).
pub fn manifests(sources: &[spec::Source], strict: bool) -> Result<Vec<Manifest>, Error> {
    let mut out = Vec::new();
    for src in sources {
        let docs = serde_saphyr::from_multiple::<serde_json::Value>(&src.text).map_err(|e| {
            // The parser's message continues with a snippet of the file: its first line is
            // enough.
            let e = e.to_string();
            let first = e.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Error::Invalid(format!("{}: invalid YAML: {first}", src.name))
        })?;
        for doc in docs.into_iter().filter(|d| d.is_object()) {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let (api_version, kind) = (text(&doc["apiVersion"]), text(&doc["kind"]));
            let name = text(&doc["metadata"]["name"]);
            if api_version.starts_with("flagger.app/") {
                continue;
            }
            if (api_version.is_empty() || kind.is_empty() || name.is_empty()) && !strict {
                continue;
            }
            if api_version.is_empty() || kind.is_empty() || name.is_empty() {
                return Err(Error::Invalid(format!(
                    "{}: every document needs apiVersion, kind and metadata.name",
                    src.name
                )));
            }
            out.push(Manifest {
                file: src.name.clone(),
                api_version,
                kind,
                name,
                doc,
            });
        }
    }
    Ok(out)
}
