//! Expression evaluation for job files: `var.*`, `local.*` and functions are resolved
//! while parsing; runtime interpolations (`${attr.*}`, `${node.*}`, `${meta.*}`,
//! `${NOMAD_*}`, `${env[...]}` and any other name) stay in the text for the client.

use hcl::eval::{Context, Evaluate};
use hcl::template::Element;
use hcl::{Expression, ObjectKey, TemplateExpr, Value};
use serde_json::Map;

pub struct Evaluator {
    ctx: Context<'static>,
}

impl Default for Evaluator {
    fn default() -> Self {
        let mut ctx = Context::new();
        super::functions::declare_all(&mut ctx);
        Evaluator { ctx }
    }
}

/// Whether an expression names something only known when the task runs.
fn is_runtime(expr: &Expression) -> bool {
    let root = match expr {
        Expression::Variable(v) => v.as_str(),
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(v) => v.as_str(),
            _ => return false,
        },
        _ => return false,
    };
    !matches!(root, "var" | "local")
}

impl Evaluator {
    /// Makes `var.<name>` or `local.<name>` available.
    pub fn declare(&mut self, root: &str, values: hcl::Map<String, Value>) {
        self.ctx.declare_var(root.to_string(), Value::Object(values));
    }

    /// Evaluates to an HCL value (used for variables, locals and conditions).
    pub fn hcl_value(&self, expr: &Expression) -> Result<Value, String> {
        match expr {
            Expression::TemplateExpr(t) => self.template(t).map(Value::String),
            other => other.evaluate(&self.ctx).map_err(|e| e.to_string()),
        }
    }

    /// Evaluates to JSON, as the job stores it.
    pub fn value(&self, expr: &Expression) -> Result<serde_json::Value, String> {
        Ok(match expr {
            Expression::Null => serde_json::Value::Null,
            Expression::Bool(b) => serde_json::Value::Bool(*b),
            Expression::String(s) => serde_json::Value::String(s.clone()),
            Expression::Array(items) => {
                serde_json::Value::Array(items.iter().map(|i| self.value(i)).collect::<Result<_, _>>()?)
            }
            Expression::Object(object) => {
                let mut map = Map::new();
                for (key, value) in object {
                    let key = match key {
                        ObjectKey::Identifier(id) => id.to_string(),
                        ObjectKey::Expression(e) => match self.value(e)? {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        },
                        _ => return Err("unsupported object key".into()),
                    };
                    map.insert(key, self.value(value)?);
                }
                serde_json::Value::Object(map)
            }
            Expression::TemplateExpr(t) => serde_json::Value::String(self.template(t)?),
            e if is_runtime(e) => {
                return Err(format!("{e} is only known when the task runs; write it inside a string: \"${{{e}}}\""))
            }
            other => serde_json::to_value(other.evaluate(&self.ctx).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?,
        })
    }

    /// Evaluates a template's interpolations, keeping runtime ones as written.
    fn template(&self, template: &TemplateExpr) -> Result<String, String> {
        let quoted = matches!(template, TemplateExpr::QuotedString(_));
        let parsed = hcl::Template::from_expr(template).map_err(|e| format!("in template: {e}"))?;
        let mut out = String::new();
        for element in parsed.elements() {
            match element {
                Element::Literal(text) if quoted => out.push_str(&unescape(text)),
                Element::Literal(text) => out.push_str(text),
                Element::Interpolation(i) if is_runtime(&i.expr) => out.push_str(&format!("${{{}}}", i.expr)),
                Element::Interpolation(i) => {
                    let value = i.expr.evaluate(&self.ctx).map_err(|e| e.to_string())?;
                    out.push_str(&super::functions::to_text(&value));
                }
                Element::Directive(_) => {
                    let value = Expression::TemplateExpr(Box::new(template.clone()))
                        .evaluate(&self.ctx)
                        .map_err(|e| e.to_string())?;
                    return Ok(super::functions::to_text(&value));
                }
            }
        }
        Ok(out)
    }
}

/// Resolves the escapes of a quoted template's raw text.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
