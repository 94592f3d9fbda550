//! Typed reading of a positioned YAML tree: a serde `Deserializer` over [`Node`].
//!
//! Owns turning a [`Node`] into the wire types of `wire.rs` and reporting *where* it failed: every
//! error carries the field path and the line/column of the offending key or value, and unknown
//! fields come with the list of valid names (for "did you mean"). Must not know about Flagger.

use crate::spec::path::FieldPath;
use crate::spec::yaml::{Key, Node, Pos, Value};
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use std::fmt;

/// Why a document did not fit its type.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    /// A key that the type does not have.
    UnknownField {
        /// The key as written.
        field: String,
        /// The keys the type has.
        expected: &'static [&'static str],
    },
    /// A value outside an enumeration.
    UnknownVariant {
        /// The value as written.
        value: String,
        /// The allowed values.
        expected: &'static [&'static str],
    },
    /// A required key that is absent.
    MissingField,
    /// A value of the wrong type.
    InvalidType {
        /// What was found.
        found: String,
        /// What was expected.
        expected: String,
    },
    /// Anything else, as a message.
    Custom(String),
}

/// An error from reading a [`Node`] as a typed value.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    /// Where it happened (filled in on the way out).
    pub pos: Option<Pos>,
    /// The field it is about.
    pub path: FieldPath,
    /// What went wrong.
    pub kind: ErrorKind,
    missing: Option<&'static str>,
    placed: bool,
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self {
            pos: None,
            path: FieldPath::root(),
            kind,
            missing: None,
            placed: false,
        }
    }

    fn place(mut self, pos: Pos, path: &FieldPath) -> Self {
        if !self.placed {
            self.placed = true;
            self.pos = Some(pos);
            self.path = match self.missing {
                Some(field) => path.key(field),
                None => path.clone(),
            };
        }
        self
    }

    /// The message without position or path, e.g. `unknown field "intervall"`.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::UnknownField { field, expected } => {
                let mut msg = format!("unknown field {field:?}");
                match suggest(field, expected) {
                    Some(s) => msg.push_str(&format!("; did you mean {s:?}?")),
                    None if expected.is_empty() => msg.push_str("; this object takes no fields"),
                    None => msg.push_str(&format!("; expected one of: {}", expected.join(", "))),
                }
                msg
            }
            ErrorKind::UnknownVariant { value, expected } => {
                let list: Vec<String> = expected
                    .iter()
                    .map(|e| {
                        if e.is_empty() {
                            "\"\"".to_string()
                        } else {
                            (*e).to_string()
                        }
                    })
                    .collect();
                let mut msg = format!("{value:?} is not one of: {}", list.join(", "));
                if let Some(s) = suggest(value, expected) {
                    msg.push_str(&format!("; did you mean {s:?}?"));
                }
                msg
            }
            ErrorKind::MissingField => "required field is missing".to_string(),
            ErrorKind::InvalidType { found, expected } => {
                format!("expected {}, found {found}", plain_expected(expected))
            }
            ErrorKind::Custom(msg) => msg.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message())
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ErrorKind::Custom(msg.to_string()))
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(ErrorKind::InvalidType {
            found: describe_unexpected(&unexp),
            expected: exp.to_string(),
        })
    }
    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(ErrorKind::Custom(format!(
            "{} is not {}",
            describe_unexpected(&unexp),
            exp
        )))
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(ErrorKind::UnknownField {
            field: field.to_string(),
            expected,
        })
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(ErrorKind::UnknownVariant {
            value: variant.to_string(),
            expected,
        })
    }
    fn missing_field(field: &'static str) -> Self {
        let mut err = Self::new(ErrorKind::MissingField);
        err.missing = Some(field);
        err
    }
}

/// serde's names for primitive types, in words.
fn plain_expected(expected: &str) -> &str {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" | "isize"
        | "usize" => "an integer",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" => "a string",
        other => other,
    }
}

fn describe_unexpected(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("string {s:?}"),
        de::Unexpected::Signed(i) => format!("integer {i}"),
        de::Unexpected::Unsigned(u) => format!("integer {u}"),
        de::Unexpected::Float(x) => format!("number {x}"),
        de::Unexpected::Bool(b) => format!("boolean {b}"),
        de::Unexpected::Unit => "null".to_string(),
        de::Unexpected::Seq => "a list".to_string(),
        de::Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

/// The closest candidate to `given`, if any is close enough to be a likely typo.
pub fn suggest<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = given.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (*c, strsim::jaro_winkler(&lower, &c.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// Reads `node` (found at `path`) as a `T`.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node, path: FieldPath) -> Result<T, Error> {
    T::deserialize(NodeDe { node, path })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: FieldPath,
}

impl<'a> NodeDe<'a> {
    fn place<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| e.place(self.node.pos, &self.path))
    }

    fn wrong_type(&self, expected: &str) -> Error {
        Error::new(ErrorKind::InvalidType {
            found: self.node.value.describe(),
            expected: expected.to_string(),
        })
        .place(self.node.pos, &self.path)
    }
}

impl<'de> Deserializer<'de> for NodeDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter().enumerate(),
                path: &self.path,
            }),
            Value::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
                path: &self.path,
            }),
        };
        self.place(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Null => visitor.visit_seq(SeqDe {
                items: [].iter().enumerate(),
                path: &self.path,
            }),
            Value::Seq(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Null => {
                let r = visitor.visit_map(MapDe {
                    entries: [].iter(),
                    value: None,
                    path: &self.path,
                });
                self.place(r)
            }
            Value::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Str(s) => {
                let r = visitor.visit_enum(s.as_str().into_deserializer());
                self.place(r)
            }
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct identifier
    }
}

struct SeqDe<'a, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    path: &'p FieldPath,
}

impl<'de> SeqAccess<'de> for SeqDe<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some((i, node)) => seed
                .deserialize(NodeDe {
                    node,
                    path: self.path.index(i),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

struct MapDe<'a, 'p> {
    entries: std::slice::Iter<'a, (Key, Node)>,
    value: Option<(&'a Key, &'a Node)>,
    path: &'p FieldPath,
}

impl<'de> MapAccess<'de> for MapDe<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, node)) => {
                self.value = Some((key, node));
                let de: de::value::BorrowedStrDeserializer<'de, Error> =
                    de::value::BorrowedStrDeserializer::new(&key.name);
                seed.deserialize(de)
                    .map(Some)
                    .map_err(|e| e.place(key.pos, &self.path.key(&key.name)))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some((key, node)) => seed.deserialize(NodeDe {
                node,
                path: self.path.key(&key.name),
            }),
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse_documents;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        interval: String,
        step_weights: Option<Vec<u32>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        analysis: Inner,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Canary,
        Bluegreen,
    }

    fn read(text: &str) -> Result<Outer, Error> {
        let docs = parse_documents(text).unwrap();
        from_node(&docs[0], FieldPath::root())
    }

    #[test]
    fn unknown_field_points_at_the_key_and_suggests() {
        let err = read("analysis:\n  interval: 1m\n  intervall: 2m\n").unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 3, col: 3 }));
        assert_eq!(err.path.to_string(), "analysis.intervall");
        assert_eq!(
            err.message(),
            "unknown field \"intervall\"; did you mean \"interval\"?"
        );
    }

    #[test]
    fn wrong_type_in_a_list_points_at_the_element() {
        let err = read("analysis:\n  interval: 1m\n  stepWeights: [1, 2, x]\n").unwrap_err();
        assert_eq!(err.path.to_string(), "analysis.stepWeights[2]");
        assert_eq!(err.pos, Some(Pos { line: 3, col: 23 }));
        assert!(
            err.message().contains("found string \"x\""),
            "{}",
            err.message()
        );
    }

    #[test]
    fn missing_field_names_the_field_at_its_parent() {
        let err = read("analysis:\n  stepWeights: [1]\n").unwrap_err();
        assert_eq!(err.path.to_string(), "analysis.interval");
        assert_eq!(err.pos, Some(Pos { line: 2, col: 3 }));
    }

    #[test]
    fn unknown_enum_value_suggests() {
        let err = read("analysis: {interval: 1m}\nmode: canry\n").unwrap_err();
        assert_eq!(err.path.to_string(), "mode");
        assert_eq!(err.pos, Some(Pos { line: 2, col: 7 }));
        assert!(
            err.message().contains("did you mean \"canary\""),
            "{}",
            err.message()
        );
    }

    #[test]
    fn reads_a_good_document() {
        let out =
            read("analysis: {interval: 1m, stepWeights: [5, 10]}\nmode: bluegreen\n").unwrap();
        assert_eq!(out.analysis.interval, "1m");
        assert_eq!(out.analysis.step_weights, Some(vec![5, 10]));
        assert!(matches!(out.mode, Some(Mode::Bluegreen)));
        let _ = Mode::Canary;
    }
}
