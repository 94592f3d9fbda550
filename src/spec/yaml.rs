//! The YAML layer: text -> documents of positioned nodes.
//!
//! Owns turning a file's text into one [`Node`] tree per YAML document, each node carrying the
//! line and column it came from, so every later error can point at the file. Knows nothing about
//! Flagger; must not touch the filesystem (callers hand it text).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it holds.
    pub value: Value,
}

/// A mapping key and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// Where the key starts.
    pub pos: Pos,
    /// The key text.
    pub name: String,
}

/// The value of a node, with YAML's core schema already resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (quoted or plain).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Int(i) => format!("integer {i}"),
            Value::Float(x) => format!("number {x}"),
            Value::Str(s) => format!("string {s:?}"),
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }
}

impl Node {
    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node for `key` when this node is a mapping.
    pub fn key(&self, key: &str) -> Option<&Key> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(k, _)| k),
            _ => None,
        }
    }

    /// The string value, when this node is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Follows a path of mapping keys and sequence indexes.
    pub fn at(&self, path: &[Seg<'_>]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(_)) => node.get(k)?,
                (Seg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

/// One step of a path into a document.
#[derive(Clone, Copy, Debug)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// A YAML syntax error with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What it found wrong, on one line.
    pub message: String,
}

/// Parses every document in `text`. Empty documents (a lone `---`) are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    match serde_saphyr::from_multiple::<Option<Node>>(text) {
        Ok(docs) => Ok(docs
            .into_iter()
            .flatten()
            .filter(|n| n.value != Value::Null)
            .collect()),
        Err(err) => {
            let pos = err
                .location()
                .map(|l| Pos {
                    line: l.line() as u32,
                    col: l.column() as u32,
                })
                .unwrap_or(Pos { line: 1, col: 1 });
            Err(refine(
                text,
                SyntaxError {
                    pos,
                    message: syntax_message(&err),
                },
            ))
        }
    }
}

/// Moves a syntax error to the line a person would fix, when the parser noticed it later: an
/// unclosed `[` / `{`, or a key without its `:` (the parser reads it as text running on).
fn refine(text: &str, err: SyntaxError) -> SyntaxError {
    let lines: Vec<&str> = text.lines().collect();
    let upto = (err.pos.line as usize).min(lines.len());
    if let Some(open) = unclosed_bracket(&lines[..upto.saturating_sub(1)]) {
        return SyntaxError {
            pos: open.0,
            message: format!("{:?} is never closed", open.1),
        };
    }
    if err.message.contains("mapping values are not allowed") && upto >= 2 {
        let prev = lines[..upto - 1]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if let Some((i, line)) = prev {
            let body = line.trim_start().trim_start_matches("- ");
            if !body.contains(':') && !body.starts_with(['"', '\'', '|', '>', '[', '{']) {
                // Characters, not bytes; YAML indents with spaces (and tabs are reported as such).
                let col = line.chars().take_while(|c| *c == ' ' || *c == '\t').count() + 1;
                return SyntaxError {
                    pos: Pos {
                        line: i as u32 + 1,
                        col: col as u32,
                    },
                    message: format!(
                        "expected \"key: value\", found {:?} (missing ':'?)",
                        line.trim()
                    ),
                };
            }
        }
    }
    err
}

/// The position and character of the first `[` or `{` left open at the end of `lines` (outside
/// quotes and comments).
fn unclosed_bracket(lines: &[&str]) -> Option<(Pos, char)> {
    let mut stack: Vec<(Pos, char)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (j, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if matches!(prev, ' ' | '[' | '{' | ',' | ':') => {
                    quote = Some(c)
                }
                (None, '#') if prev == ' ' || j == 0 => break,
                (None, '[' | '{') => stack.push((
                    Pos {
                        line: i as u32 + 1,
                        col: j as u32 + 1,
                    },
                    c,
                )),
                (None, ']' | '}') => {
                    stack.pop();
                }
                _ => {}
            }
            prev = c;
        }
    }
    stack.first().copied()
}

/// The first line of the parser's message, without its own "line X column Y" prefix.
fn syntax_message(err: &serde_saphyr::Error) -> String {
    let rendered = err.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => first,
    };
    let first = first
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(first);
    let first = match first.rfind(" at line ") {
        Some(i) if first[i..].contains(", column ") => &first[..i],
        _ => first,
    };
    first.to_string()
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: loc.line() as u32,
        col: loc.column() as u32,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned: Spanned<Value> = Spanned::deserialize(d)?;
        Ok(Node {
            pos: pos_of(&spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Node>()?;
            entries.push((
                Key {
                    pos: pos_of(&key.referenced),
                    name: key.value.0,
                },
                value,
            ));
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key as text, exactly as written: read as a string so that `n:` or `on:` stay keys
/// rather than YAML 1.1 booleans.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
        }
        d.deserialize_string(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values_and_keys() {
        let docs = parse_documents("a: 1\nspec:\n  interval: 30 seconds\n").unwrap();
        let spec = docs[0].get("spec").unwrap();
        assert_eq!(spec.key("interval").unwrap().pos, Pos { line: 3, col: 3 });
        assert_eq!(spec.get("interval").unwrap().pos, Pos { line: 3, col: 13 });
    }

    #[test]
    fn multiple_documents_and_empty_ones() {
        let docs = parse_documents("---\na: 1\n---\n---\nb: [x, 2]\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].pos.line, 5);
        let b = docs[1].get("b").unwrap();
        match &b.value {
            Value::Seq(items) => {
                assert_eq!(items[0].value, Value::Str("x".into()));
                assert_eq!(items[1].value, Value::Int(2));
                assert_eq!(items[1].pos, Pos { line: 5, col: 8 });
            }
            other => panic!("expected a list, got {other:?}"),
        }
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let docs = parse_documents("q: \"5\"\nn: 5\nf: 1.5\nz: ~\n").unwrap();
        assert_eq!(docs[0].get("q").unwrap().value, Value::Str("5".into()));
        assert_eq!(docs[0].get("n").unwrap().value, Value::Int(5));
        assert_eq!(docs[0].get("f").unwrap().value, Value::Float(1.5));
        assert_eq!(docs[0].get("z").unwrap().value, Value::Null);
    }

    #[test]
    fn syntax_error_points_at_the_broken_line() {
        let err = parse_documents("a: 1\nb:\n  c: [1, x: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(!err.message.contains("line 4"), "{}", err.message);
    }

    #[test]
    fn keys_stay_text() {
        let docs = parse_documents("n: 1\non: 2\n80: 3\n").unwrap();
        assert!(docs[0].get("n").is_some());
        assert!(docs[0].get("on").is_some());
        assert!(docs[0].get("80").is_some());
    }

    #[test]
    fn unclosed_flow_points_at_the_bracket() {
        let err = parse_documents("a:\n  b: [1, 2\n  c: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 6 });
        assert_eq!(err.message, "'[' is never closed");
    }

    #[test]
    fn missing_colon_points_at_the_key() {
        let err = parse_documents("a:\n  interval 1m\n  threshold: 5\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 3 });
        assert!(err.message.contains("missing ':'"), "{}", err.message);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 1 });
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }
}
