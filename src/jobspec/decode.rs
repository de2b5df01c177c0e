//! Reading HCL bodies: typed attribute values, unknown-name checks with suggestions, and
//! conversion of free-form bodies (driver config) to JSON. Every problem is recorded with
//! its path, and decoding goes on so all problems are reported at once.

use super::suggest::hint;
use hcl::{Body, Expression};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A body and where it is in the file, e.g. `job "web" -> group "api"`.
pub struct Scope<'a> {
    pub path: String,
    pub body: &'a Body,
}

impl<'a> Scope<'a> {
    pub fn new(path: impl Into<String>, body: &'a Body) -> Scope<'a> {
        Scope { path: path.into(), body }
    }

    pub fn attr(&self, key: &str) -> Option<&'a Expression> {
        self.body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
    }

    pub fn blocks(&self, name: &'a str) -> impl Iterator<Item = &'a hcl::Block> + 'a {
        self.body.blocks().filter(move |b| b.identifier.as_str() == name)
    }

    /// Blocks named `name`, for a name that does not live as long as the body.
    pub fn blocks_named<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a hcl::Block> + 'n
    where
        'a: 'n,
    {
        self.body.blocks().filter(move |b| b.identifier.as_str() == name)
    }

    /// A child scope for `block`, named by its identifier and labels.
    pub fn child(&self, block: &'a hcl::Block) -> Scope<'a> {
        let labels: Vec<String> = block.labels.iter().map(|l| format!("{:?}", l.as_str())).collect();
        let name = if labels.is_empty() {
            block.identifier.to_string()
        } else {
            format!("{} {}", block.identifier, labels.join(" "))
        };
        let path = if self.path.is_empty() { name } else { format!("{} -> {name}", self.path) };
        Scope { path, body: &block.body }
    }
}

/// What a body may contain, and where blocks that belong elsewhere go.
pub struct Schema<'s> {
    pub attributes: &'s [&'s str],
    pub blocks: &'s [&'s str],
    /// (block name, the block it belongs inside) for blocks that are valid elsewhere.
    pub homes: &'s [(&'s str, &'s str)],
    /// (name, why) for Nomad features rove reads but refuses.
    pub unsupported: &'s [(&'s str, &'s str)],
}

#[derive(Default)]
pub struct Decoder {
    pub problems: Vec<String>,
    pub eval: super::eval::Evaluator,
}

impl Decoder {
    fn to_json(&self, expr: &hcl::Expression) -> Result<Value, String> {
        self.eval.value(expr)
    }

    pub fn problem(&mut self, scope: &Scope, message: impl std::fmt::Display) {
        if scope.path.is_empty() {
            self.problems.push(message.to_string());
        } else {
            self.problems.push(format!("{}: {message}", scope.path));
        }
    }

    /// Reports attributes and blocks the schema does not know, naming refused features.
    pub fn check(&mut self, scope: &Scope, schema: &Schema) {
        let refused = |name: &str| schema.unsupported.iter().find(|(n, _)| *n == name).map(|(_, why)| *why);
        let mut seen = std::collections::BTreeSet::new();
        for attr in scope.body.attributes() {
            let key = attr.key.as_str();
            if !seen.insert(key.to_string()) {
                self.problem(scope, format!("attribute {key:?} is set more than once"));
            } else if schema.attributes.contains(&key) {
                continue;
            } else if let Some(why) = refused(key) {
                self.problem(scope, format!("{key:?} is not supported by rove: {why}"));
            } else if schema.blocks.contains(&key) {
                self.problem(scope, format!("{key:?} is a block, not an attribute: write `{key} {{ ... }}`"));
            } else {
                let mut known = schema.attributes.to_vec();
                known.extend_from_slice(schema.blocks);
                self.problem(scope, format!("unknown attribute {key:?}{}", hint(key, &known)));
            }
        }
        for block in scope.body.blocks() {
            let name = block.identifier.as_str();
            if schema.blocks.contains(&name) {
                continue;
            }
            if let Some(why) = refused(name) {
                self.problem(scope, format!("{name:?} is not supported by rove: {why}"));
            } else if let Some((_, home)) = schema.homes.iter().find(|(b, _)| *b == name) {
                self.problem(scope, format!("{name:?} block is not allowed here; it belongs inside a {home} block"));
            } else if schema.attributes.contains(&name) {
                self.problem(scope, format!("{name:?} is an attribute, not a block: write `{name} = ...`"));
            } else {
                let mut known = schema.blocks.to_vec();
                known.extend_from_slice(schema.attributes);
                self.problem(scope, format!("unknown block {name:?}{}", hint(name, &known)));
            }
        }
    }

    fn typed<T>(&mut self, scope: &Scope, key: &str, expected: &str, f: impl Fn(&Value) -> Option<T>) -> Option<T> {
        let expr = scope.attr(key)?;
        match self.to_json(expr) {
            Ok(v) => match f(&v) {
                Some(t) => Some(t),
                None => {
                    self.problem(scope, format!("{key}: expected {expected}, got {}", describe(&v)));
                    None
                }
            },
            Err(e) => {
                self.problem(scope, format!("{key}: {e}"));
                None
            }
        }
    }

    pub fn string(&mut self, scope: &Scope, key: &str) -> Option<String> {
        self.typed(scope, key, "a string", as_text)
    }

    pub fn int(&mut self, scope: &Scope, key: &str) -> Option<i64> {
        self.typed(scope, key, "a whole number", |v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
    }

    /// A non-negative whole number that fits `T`.
    pub fn uint<T: TryFrom<u64>>(&mut self, scope: &Scope, key: &str) -> Option<T> {
        self.typed(scope, key, "a non-negative whole number", |v| {
            v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()).and_then(|n| T::try_from(n).ok())
        })
    }

    pub fn boolean(&mut self, scope: &Scope, key: &str) -> Option<bool> {
        self.typed(scope, key, "true or false", |v| {
            v.as_bool().or_else(|| match v.as_str()? {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
        })
    }

    pub fn strings(&mut self, scope: &Scope, key: &str) -> Option<Vec<String>> {
        self.typed(scope, key, "a list of strings", |v| v.as_array()?.iter().map(as_text).collect())
    }

    pub fn duration(&mut self, scope: &Scope, key: &str) -> Option<Duration> {
        let text = self.string(scope, key)?;
        match super::duration::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(scope, format!("{key}: {e}"));
                None
            }
        }
    }

    /// A block of `KEY = value` lines (env, meta) as strings; numbers and booleans are
    /// written as text, as Nomad does.
    pub fn string_map(&mut self, scope: &Scope) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for attr in scope.body.attributes() {
            match self.to_json(&attr.expr) {
                Ok(v) => self.insert_text(scope, &mut map, attr.key.to_string(), attr.key.as_str(), &v),
                Err(e) => self.problem(scope, format!("{}: {e}", attr.key)),
            }
        }
        if let Some(block) = scope.body.blocks().next() {
            self.problem(
                scope,
                format!("unexpected block {:?}: only KEY = \"value\" lines are allowed", block.identifier.as_str()),
            );
        }
        map
    }

    /// Adds a map entry whose value must be text (numbers and bools are written as text,
    /// as Nomad does); anything else is a problem named by `label`.
    fn insert_text(&mut self, scope: &Scope, map: &mut BTreeMap<String, String>, key: String, label: &str, v: &Value) {
        match as_text(v) {
            Some(text) => {
                map.insert(key, text);
            }
            None => self.problem(scope, format!("{label}: expected a string, got {}", describe(v))),
        }
    }

    /// A `KEY = value` map written as blocks (`meta { ... }`) or as an attribute
    /// (`meta = { ... }`), merged in that order.
    pub fn map_named(&mut self, scope: &Scope, name: &str) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for block in scope.blocks_named(name) {
            map.extend(self.string_map(&scope.child(block)));
        }
        if let Some(expr) = scope.attr(name) {
            match self.to_json(expr) {
                Ok(Value::Object(object)) => {
                    for (key, value) in object {
                        let label = format!("{name}.{key}");
                        self.insert_text(scope, &mut map, key, &label, &value);
                    }
                }
                Ok(other) => self.problem(scope, format!("{name}: expected a map, got {}", describe(&other))),
                Err(e) => self.problem(scope, format!("{name}: {e}")),
            }
        }
        map
    }

    /// A free-form body (driver config) as a JSON object: repeated blocks become lists.
    pub fn free_form(&mut self, scope: &Scope) -> Map<String, Value> {
        let mut map = Map::new();
        for attr in scope.body.attributes() {
            match self.to_json(&attr.expr) {
                Ok(v) => {
                    map.insert(attr.key.to_string(), v);
                }
                Err(e) => self.problem(scope, format!("{}: {e}", attr.key)),
            }
        }
        for block in scope.body.blocks() {
            let child = scope.child(block);
            let value = Value::Object(self.free_form(&child));
            match map.entry(block.identifier.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(value),
                _ => self.problem(scope, format!("{:?} is both an attribute and a block", block.identifier.as_str())),
            }
        }
        map
    }
}

/// A string, or a number or bool written as one: the conversions HCL (cty) makes where a
/// string is expected. Numbers and bools given as strings convert the other way in the
/// typed getters.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
