//! Field paths into a document (`spec.analysis.stepWeights[2]`).
//!
//! Owns building and printing paths; must not know about any particular kind.

use crate::spec::yaml::{Node, Pos, Seg};
use std::fmt;

/// A path from a document's root to one of its fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<PathSeg>);

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl FieldPath {
    /// The empty path (the document itself).
    pub fn root() -> Self {
        Self::default()
    }

    /// A path of mapping keys.
    pub fn of(keys: &[&str]) -> Self {
        Self(
            keys.iter()
                .map(|k| PathSeg::Key((*k).to_string()))
                .collect(),
        )
    }

    /// This path with one more key.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(PathSeg::Key(key.to_string()));
        next
    }

    /// This path with one more index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(PathSeg::Index(index));
        next
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The position of the value at this path in `doc`, or of the deepest part of the path that
    /// exists (a missing field is reported where its parent is).
    pub fn pos_in(&self, doc: &Node) -> Pos {
        let mut node = doc;
        for seg in &self.0 {
            let seg = match seg {
                PathSeg::Key(k) => Seg::Key(k),
                PathSeg::Index(i) => Seg::Index(*i),
            };
            match node.at(&[seg]) {
                Some(next) => node = next,
                None => break,
            }
        }
        node.pos
    }

    /// The position of the key that names the last step of this path, when it is a mapping key
    /// present in `doc`.
    pub fn key_pos_in(&self, doc: &Node) -> Option<Pos> {
        let (last, parent) = self.0.split_last()?;
        let PathSeg::Key(name) = last else {
            return None;
        };
        let segs: Vec<Seg<'_>> = parent
            .iter()
            .map(|s| match s {
                PathSeg::Key(k) => Seg::Key(k),
                PathSeg::Index(i) => Seg::Index(*i),
            })
            .collect();
        doc.at(&segs)?.key(name).map(|k| k.pos)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if is_plain(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                PathSeg::Key(k) => write!(f, "[{k:?}]")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_the_docs() {
        let p = FieldPath::of(&["spec", "analysis", "stepWeights"]).index(2);
        assert_eq!(p.to_string(), "spec.analysis.stepWeights[2]");
        let q = FieldPath::of(&["metadata", "annotations", "example.com/x"]);
        assert_eq!(q.to_string(), "metadata.annotations[\"example.com/x\"]");
    }
}
