//! Spec files from disk: files, directories (`-R` to recurse) and standard input.
//!
//! Owns finding and reading the YAML files a command was given. Must not interpret them.

use crate::error::Error;
use crate::settings::InputPath;
use crate::spec::Source;
use std::io::Read;
use std::path::Path;

/// File extensions read from directories.
const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Reads every spec file named by `inputs`, in the order given (directory entries sorted).
pub fn read_all(inputs: &[InputPath], recursive: bool) -> Result<Vec<Source>, Error> {
    let mut out = Vec::new();
    for input in inputs {
        if input.shown == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| Error::ReadInput {
                    path: "<stdin>".into(),
                    source,
                })?;
            out.push(Source {
                name: "<stdin>".into(),
                text,
            });
            continue;
        }
        let meta = std::fs::metadata(&input.path).map_err(|source| Error::ReadInput {
            path: input.shown.clone(),
            source,
        })?;
        if meta.is_dir() {
            let before = out.len();
            read_dir(&input.path, &input.shown, recursive, &mut out)?;
            if out.len() == before {
                return Err(Error::Invalid(format!(
                    "{}: no .yaml, .yml or .json files{}",
                    input.shown,
                    if recursive {
                        ""
                    } else {
                        " (use -R to read subdirectories)"
                    }
                )));
            }
        } else {
            out.push(read_file(&input.path, &input.shown)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path, shown: &str) -> Result<Source, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::ReadInput {
        path: shown.to_string(),
        source,
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::Invalid(format!("{shown}: not UTF-8 text")))?;
    Ok(Source {
        name: shown.to_string(),
        text,
    })
}

fn read_dir(dir: &Path, shown: &str, recursive: bool, out: &mut Vec<Source>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadInput {
        path: shown.to_string(),
        source,
    })?;
    let mut names: Vec<(String, bool)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::ReadInput {
            path: shown.to_string(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        names.push((name, is_dir));
    }
    names.sort();
    for (name, is_dir) in names {
        let child_shown = join_shown(shown, &name);
        let child = dir.join(&name);
        if is_dir {
            if recursive {
                read_dir(&child, &child_shown, recursive, out)?;
            }
        } else if Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(read_file(&child, &child_shown)?);
        }
    }
    Ok(())
}

fn join_shown(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}
