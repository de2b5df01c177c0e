//! Rendering a task's `template` blocks: the part of Nomad's template language that works
//! without Consul, Vault or Nomad variables. Text with actions between the delimiters
//! (`{{ }}` unless `left_delimiter`/`right_delimiter` say otherwise), `-` trimming the
//! whitespace beside an action, comments, string literals, `env "NAME"`, `file "path"`
//! (inside the task directory) and the pipes `toUpper`, `toLower` and `trimSpace`. Anything
//! else is refused with the line it is on. Templates render before the task starts, and
//! again while it runs when a `source` or `file` they read changes (for `change_mode`).

use super::alloc_dir::under;
use crate::structs::Template;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("template line {line}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub message: String,
}

/// What actions may read.
pub struct Context<'a> {
    pub env: &'a BTreeMap<String, String>,
    /// Where `file` reads from; paths may not leave it.
    pub task_dir: &'a Path,
    /// `error_on_missing_key`: an unset variable is an error, not an empty string.
    pub strict: bool,
}

pub fn render(text: &str, left: &str, right: &str, ctx: &Context) -> Result<String, TemplateError> {
    let (left, right) = (if left.is_empty() { "{{" } else { left }, if right.is_empty() { "}}" } else { right });
    let mut out = String::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find(left) {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + left.len()..];
        let line = text[..text.len() - rest.len() + start].matches('\n').count() + 1;
        let err = |message: String| TemplateError { line, message };
        let end = after.find(right).ok_or_else(|| err(format!("unclosed action: no {right:?}")))?;
        let mut action = &after[..end];
        if let Some(trimmed) = action.strip_prefix('-').filter(|a| a.starts_with(char::is_whitespace)) {
            literal = literal.trim_end();
            action = trimmed;
        }
        trim_next = false;
        if let Some(trimmed) = action.strip_suffix('-').filter(|a| a.ends_with(char::is_whitespace)) {
            trim_next = true;
            action = trimmed;
        }
        out.push_str(literal);
        out.push_str(&evaluate(action.trim(), ctx).map_err(err)?);
        rest = &after[end + right.len()..];
    }
    out.push_str(if trim_next { rest.trim_start() } else { rest });
    Ok(out)
}

fn evaluate(action: &str, ctx: &Context) -> Result<String, String> {
    if action.starts_with("/*") && action.ends_with("*/") {
        return Ok(String::new());
    }
    let mut stages = action.split('|').map(str::trim);
    let mut value = call(stages.next().unwrap_or_default(), ctx)?;
    for stage in stages {
        value = match stage {
            "toUpper" => value.to_uppercase(),
            "toLower" => value.to_lowercase(),
            "trimSpace" => value.trim().to_string(),
            other => return Err(unsupported(other)),
        };
    }
    Ok(value)
}

fn call(expr: &str, ctx: &Context) -> Result<String, String> {
    if let Some(literal) = string_literal(expr) {
        return Ok(literal);
    }
    let (name, arg) = expr.split_once(char::is_whitespace).map_or((expr, ""), |(n, a)| (n, a.trim()));
    let argument = || string_literal(arg).ok_or_else(|| format!("{name} takes one quoted string, got {arg:?}"));
    match name {
        "env" => {
            let name = argument()?;
            match ctx.env.get(&name) {
                Some(value) => Ok(value.clone()),
                None if ctx.strict => Err(format!("env {name:?} is not set (error_on_missing_key)")),
                None => Ok(String::new()),
            }
        }
        "file" => {
            let relative = argument()?;
            let path = inside(ctx.task_dir, &relative, "file")?;
            std::fs::read_to_string(path).map_err(|e| format!("file {relative:?}: {e}"))
        }
        other => Err(unsupported(other)),
    }
}

fn unsupported(what: &str) -> String {
    format!(
        "{what:?} is not supported by rove (templates may use env, file, string literals, toUpper, toLower, trimSpace)"
    )
}

fn string_literal(s: &str) -> Option<String> {
    if let Some(raw) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Some(raw.to_string());
    }
    serde_json::from_str::<String>(s).ok().filter(|_| s.starts_with('"'))
}

/// Renders each template of a task into its destination in the task directory (with its
/// `perms`), and adds the variables of `env = true` templates to `env`.
pub fn write_all(templates: &[Template], task_dir: &Path, env: &mut BTreeMap<String, String>) -> Result<(), String> {
    for template in templates {
        let rendered = render_one(template, task_dir, env)?;
        rendered.write()?;
        if template.envvars {
            env.extend(env_lines(&rendered.text).map_err(|e| format!("template {:?}: {e}", template.dest_path))?);
        }
    }
    Ok(())
}

/// Renders the templates again and writes those whose output changed (a `source` or a
/// `file` they read changed); returns those, for their `change_mode`.
pub fn rerender(
    templates: &[Template],
    task_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Template>, String> {
    let mut changed = Vec::new();
    for template in templates {
        let rendered = render_one(template, task_dir, env)?;
        if std::fs::read_to_string(&rendered.dest).ok().as_deref() != Some(rendered.text.as_str()) {
            rendered.write()?;
            changed.push(template.clone());
        }
    }
    Ok(changed)
}

/// A template's output and where it goes.
struct Rendered<'t> {
    template: &'t Template,
    dest: std::path::PathBuf,
    text: String,
    mode: u32,
}

impl Rendered<'_> {
    fn write(&self) -> Result<(), String> {
        let err = |e: std::io::Error| format!("template {:?}: {e}", self.template.dest_path);
        if let Some(parent) = self.dest.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&self.dest, &self.text).map_err(err)?;
        std::fs::set_permissions(&self.dest, std::os::unix::fs::PermissionsExt::from_mode(self.mode)).map_err(err)
    }
}

fn render_one<'t>(
    template: &'t Template,
    task_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Rendered<'t>, String> {
    let dest = inside(task_dir, &template.dest_path, "template destination")?;
    let text = match (template.embedded_tmpl.as_str(), template.source_path.as_str()) {
        ("", "") => return Err(format!("template {:?} has neither data nor source", template.dest_path)),
        ("", source) => {
            let path = inside(task_dir, source, "template source")?;
            std::fs::read_to_string(&path).map_err(|e| format!("template source {source:?}: {e}"))?
        }
        (data, _) => data.to_string(),
    };
    let ctx = Context { env, task_dir, strict: template.error_on_missing_key };
    let text = render(&text, &template.left_delim, &template.right_delim, &ctx)
        .map_err(|e| format!("template {:?}: {e}", template.dest_path))?;
    let mode = match template.perms.as_str() {
        "" => 0o644,
        perms => u32::from_str_radix(perms, 8)
            .map_err(|_| format!("template {:?}: perms {perms:?} is not an octal mode", template.dest_path))?,
    };
    Ok(Rendered { template, dest, text, mode })
}

/// A named file under `dir` (not `dir` itself), or an error saying the `what` path leaves it.
fn inside(dir: &Path, relative: &str, what: &str) -> Result<std::path::PathBuf, String> {
    under(dir, relative)
        .filter(|_| !relative.is_empty())
        .ok_or_else(|| format!("{what} {relative:?} must be a relative path inside the task directory"))
}

/// `KEY=VALUE` lines of a template rendered with `env = true` (blank lines and `#`
/// comments skipped).
pub fn env_lines(rendered: &str) -> Result<Vec<(String, String)>, String> {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, value) = l.split_once('=').ok_or_else(|| format!("env template line {l:?} is not KEY=VALUE"))?;
            Ok((key.trim().to_string(), value.trim().trim_matches('"').to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(env: &BTreeMap<String, String>) -> Context<'_> {
        Context { env, task_dir: Path::new("/nonexistent"), strict: false }
    }

    #[test]
    fn renders_env_literals_pipes_comments_and_trimming() {
        let env = BTreeMap::from([("NOMAD_TASK_NAME".to_string(), "web".to_string())]);
        let text = "name={{ env \"NOMAD_TASK_NAME\" | toUpper }}\n{{/* a note */}}{{- \" x \" | trimSpace -}}\n  end {{ env \"MISSING\" }}.";
        assert_eq!(render(text, "", "", &ctx(&env)).unwrap(), "name=WEB\nxend .");
        assert_eq!(render("[[ env `NOMAD_TASK_NAME` ]]", "[[", "]]", &ctx(&env)).unwrap(), "web");
    }

    #[test]
    fn refuses_what_it_cannot_render_with_the_line() {
        let env = BTreeMap::new();
        let err = render("ok\n{{ range service \"db\" }}", "", "", &ctx(&env)).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("\"range\" is not supported"), "{err}");
        assert_eq!(render("{{ env \"A\" ", "", "", &ctx(&env)).unwrap_err().line, 1);
        let strict = Context { strict: true, ..ctx(&env) };
        assert!(render("{{ env \"A\" }}", "", "", &strict).unwrap_err().message.contains("not set"));
        let escape = render("{{ file \"../../etc/passwd\" }}", "", "", &ctx(&env)).unwrap_err();
        assert!(escape.message.contains("inside the task directory"), "{escape}");
    }

    #[test]
    fn env_templates_give_key_value_pairs() {
        assert_eq!(
            env_lines("# settings\nA=1\nB = \"two\"\n\n").unwrap(),
            [("A".to_string(), "1".to_string()), ("B".to_string(), "two".to_string())]
        );
        assert!(env_lines("oops").is_err());
    }
}
