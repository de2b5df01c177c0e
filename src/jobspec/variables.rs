//! Input variables and locals: `variable` blocks (type, default, validation), values from
//! `-var`, `-var-file` and `NOMAD_VAR_*` (in that order of precedence, over the default),
//! and `locals` blocks evaluated in dependency order.

use super::decode::{Decoder, Schema, Scope};
use hcl::{Expression, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where variable values come from besides their defaults.
#[derive(Debug, Clone, Default)]
pub struct VarSources {
    /// `-var name=value`, in order; later ones win.
    pub vars: Vec<(String, String)>,
    /// `-var-file` paths, in order; later ones win.
    pub var_files: Vec<PathBuf>,
    /// `NOMAD_VAR_<name>` environment variables, by name.
    pub env: BTreeMap<String, String>,
}

impl VarSources {
    /// Reads `NOMAD_VAR_*` from this process's environment.
    pub fn from_env() -> VarSources {
        let env = std::env::vars().filter_map(|(k, v)| Some((k.strip_prefix("NOMAD_VAR_")?.to_string(), v))).collect();
        VarSources { env, ..VarSources::default() }
    }
}

const VARIABLE: Schema = Schema {
    attributes: &["type", "default", "description", "sensitive", "nullable"],
    blocks: &["validation"],
    homes: &[],
    unsupported: &[],
};
const VALIDATION: Schema =
    Schema { attributes: &["condition", "error_message"], blocks: &[], homes: &[], unsupported: &[] };

/// Converts a value given as text (`-var`, environment) to the variable's type.
fn from_text(text: &str, type_name: &str) -> Result<Value, String> {
    match type_name {
        "" | "string" | "any" => Ok(Value::String(text.to_string())),
        "number" => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::to_value(f).ok())
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| format!("{text:?} is not a number")),
        "bool" => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("{other:?} is not true or false")),
        },
        _ => hcl::from_str::<hcl::Body>(&format!("v = {text}"))
            .map_err(|e| format!("{text:?} is not a valid {type_name}: {e}"))
            .and_then(|body| {
                let expr = body.attributes().next().map(|a| a.expr.clone()).ok_or("empty value")?;
                hcl::eval::Evaluate::evaluate(&expr, &hcl::eval::Context::new()).map_err(|e| e.to_string())
            }),
    }
}

/// Whether a value fits the declared type (for the simple types; complex ones pass).
fn fits(value: &Value, type_name: &str) -> bool {
    match type_name {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "bool" => value.is_boolean(),
        t if t.starts_with("list(") || t.starts_with("set(") || t.starts_with("tuple(") => value.is_array(),
        t if t.starts_with("map(") || t.starts_with("object(") => value.is_object(),
        _ => true,
    }
}

fn var_file_values(d: &mut Decoder, files: &[PathBuf]) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for path in files {
        let body = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|s| hcl::parse(&s).map_err(|e| e.to_string()))
        {
            Ok(body) => body,
            Err(e) => {
                d.problems.push(format!("-var-file {}: {e}", path.display()));
                continue;
            }
        };
        for attr in body.attributes() {
            match d.eval.hcl_value(&attr.expr) {
                Ok(v) => {
                    values.insert(attr.key.to_string(), v);
                }
                Err(e) => d.problems.push(format!("-var-file {}: {}: {e}", path.display(), attr.key)),
            }
        }
    }
    values
}

/// Declares `var.*` and `local.*` for the rest of the file.
pub fn resolve(d: &mut Decoder, top: &Scope, sources: &VarSources) {
    let from_files = var_file_values(d, &sources.var_files);
    let mut vars = Map::new();
    let mut declared = std::collections::BTreeSet::new();
    let mut validations = Vec::new();
    for block in top.blocks("variable") {
        let Some(name) = block.labels.first().map(|l| l.as_str().to_string()) else {
            d.problem(top, "variable block needs its name as a label: `variable \"name\" { ... }`");
            continue;
        };
        let scope = top.child(block);
        d.check(&scope, &VARIABLE);
        declared.insert(name.clone());
        let type_name = scope.attr("type").map(|t| t.to_string()).unwrap_or_default();
        // Nomad's precedence: -var, then -var-file, then NOMAD_VAR_*, then the default.
        let from_cli = sources.vars.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v);
        let as_typed = |text: &str| from_text(text, &type_name).map_err(|e| format!("variable {name:?}: {e}"));
        let value = if let Some(text) = from_cli {
            as_typed(text)
        } else if let Some(v) = from_files.get(&name) {
            Ok(v.clone())
        } else if let Some(text) = sources.env.get(&name) {
            as_typed(text)
        } else if let Some(default) = scope.attr("default") {
            d.eval.hcl_value(default).map_err(|e| format!("variable {name:?}: default: {e}"))
        } else {
            Err(format!("variable {name:?} has no value: pass -var {name}=..., -var-file, or NOMAD_VAR_{name}"))
        };
        // As HCL does, a string default or file value converts to a number or bool type.
        let value = value.and_then(|v| match v {
            Value::String(text) if !fits(&Value::String(text.clone()), &type_name) => {
                from_text(&text, &type_name).map_err(|e| format!("variable {name:?}: {e}"))
            }
            other => Ok(other),
        });
        match value {
            Ok(v) if !fits(&v, &type_name) => d.problem(&scope, format!("value {v} is not of type {type_name}")),
            Ok(v) => {
                vars.insert(name.clone(), v);
            }
            Err(e) => d.problems.push(e),
        }
        for validation in scope.blocks("validation") {
            validations.push((name.clone(), scope.child(validation).path, validation));
        }
    }
    for (name, _) in sources.vars.iter().filter(|(k, _)| !declared.contains(k)) {
        d.problems.push(format!("-var {name}: no variable {name:?} is declared in the job file"));
    }
    d.eval.declare("var", vars);
    for (name, path, block) in validations {
        let scope = Scope { path, body: &block.body };
        d.check(&scope, &VALIDATION);
        let message =
            d.string(&scope, "error_message").unwrap_or_else(|| format!("invalid value for variable {name:?}"));
        match scope.attr("condition").map(|c| d.eval.hcl_value(c)) {
            Some(Ok(Value::Bool(true))) => {}
            Some(Ok(Value::Bool(false))) => d.problems.push(format!("variable {name:?}: {message}")),
            Some(Ok(other)) => d.problem(&scope, format!("condition must be true or false, got {other}")),
            Some(Err(e)) => d.problem(&scope, format!("condition: {e}")),
            None => d.problem(&scope, "condition is required"),
        }
    }
    resolve_locals(d, top);
}

/// Evaluates `locals` in as many passes as their references need.
fn resolve_locals(d: &mut Decoder, top: &Scope) {
    let mut pending: Vec<(String, &Expression)> =
        top.blocks("locals").flat_map(|b| b.body.attributes().map(|a| (a.key.to_string(), &a.expr))).collect();
    let mut locals = Map::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut errors = Vec::new();
        pending.retain(|(name, expr)| match d.eval.hcl_value(expr) {
            Ok(v) => {
                locals.insert(name.clone(), v);
                false
            }
            Err(e) => {
                errors.push(format!("locals: {name}: {e}"));
                true
            }
        });
        d.eval.declare("local", locals.clone());
        if pending.len() == before {
            d.problems.extend(errors);
            return;
        }
    }
}
