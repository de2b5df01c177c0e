//! The HCL functions job files call, by the names Nomad's job files use them:
//! strings (upper, lower, title, trimspace, trim, trimprefix, trimsuffix, replace, split,
//! join, format, substr, startswith, endswith, strrev), collections (length, concat,
//! contains, keys, values, lookup, merge, element, distinct, flatten, reverse, sort, range,
//! coalesce, compact, index), numbers (min, max, abs, ceil, floor, parseint), conversion
//! (tostring, tonumber, tobool, tolist), encoding (jsonencode, jsondecode, yamldecode,
//! base64encode, base64decode) and files (file, relative to the job file; pathexpand).

use base64::Engine;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Number, Value};
use std::cell::RefCell;
use std::path::PathBuf;

thread_local! {
    /// The directory `file()` reads relative to: the job file's.
    static BASE_DIR: RefCell<PathBuf> = RefCell::new(PathBuf::from("."));
}

/// Sets the directory `file()` resolves paths against, for this thread.
pub fn set_base_dir(dir: PathBuf) {
    BASE_DIR.with(|b| *b.borrow_mut() = dir);
}

type Result = std::result::Result<Value, String>;

fn string(v: &Value) -> std::result::Result<&str, String> {
    v.as_str().ok_or_else(|| format!("expected a string, got {v}"))
}

fn number(v: &Value) -> std::result::Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("expected a number, got {v}"))
}

fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9e15 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn array(v: &Value) -> std::result::Result<&Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("expected a list, got {v}"))
}

fn object(v: &Value) -> std::result::Result<&Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("expected a map, got {v}"))
}

/// A value as text, the way interpolation writes it.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn args(a: &FuncArgs) -> Vec<Value> {
    a.iter().cloned().collect()
}

fn map_str(a: FuncArgs, f: fn(&str) -> String) -> Result {
    Ok(Value::String(f(string(&a[0])?)))
}

fn upper(a: FuncArgs) -> Result {
    map_str(a, str::to_uppercase)
}
fn lower(a: FuncArgs) -> Result {
    map_str(a, str::to_lowercase)
}
fn trimspace(a: FuncArgs) -> Result {
    map_str(a, |s| s.trim().to_string())
}
fn strrev(a: FuncArgs) -> Result {
    map_str(a, |s| s.chars().rev().collect())
}
fn title(a: FuncArgs) -> Result {
    map_str(a, |s| {
        s.split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join(" ")
    })
}
fn trim(a: FuncArgs) -> Result {
    let cut: Vec<char> = string(&a[1])?.chars().collect();
    Ok(Value::String(string(&a[0])?.trim_matches(cut.as_slice()).to_string()))
}
fn trimprefix(a: FuncArgs) -> Result {
    let (s, p) = (string(&a[0])?, string(&a[1])?);
    Ok(Value::String(s.strip_prefix(p).unwrap_or(s).to_string()))
}
fn trimsuffix(a: FuncArgs) -> Result {
    let (s, p) = (string(&a[0])?, string(&a[1])?);
    Ok(Value::String(s.strip_suffix(p).unwrap_or(s).to_string()))
}
fn startswith(a: FuncArgs) -> Result {
    Ok(Value::Bool(string(&a[0])?.starts_with(string(&a[1])?)))
}
fn endswith(a: FuncArgs) -> Result {
    Ok(Value::Bool(string(&a[0])?.ends_with(string(&a[1])?)))
}
fn replace(a: FuncArgs) -> Result {
    Ok(Value::String(string(&a[0])?.replace(string(&a[1])?, string(&a[2])?)))
}
fn split(a: FuncArgs) -> Result {
    let (sep, s) = (string(&a[0])?, string(&a[1])?);
    Ok(Value::Array(s.split(sep).map(|p| Value::String(p.to_string())).collect()))
}
fn join(a: FuncArgs) -> Result {
    let sep = string(&a[0])?;
    let parts: Vec<String> = array(&a[1])?.iter().map(to_text).collect();
    Ok(Value::String(parts.join(sep)))
}
fn substr(a: FuncArgs) -> Result {
    let s: Vec<char> = string(&a[0])?.chars().collect();
    let offset = number(&a[1])? as i64;
    let length = number(&a[2])? as i64;
    let start = if offset < 0 { (s.len() as i64 + offset).max(0) } else { offset.min(s.len() as i64) } as usize;
    let end = if length < 0 { s.len() } else { (start + length as usize).min(s.len()) };
    Ok(Value::String(s[start..end].iter().collect()))
}
/// `format` with the verbs job files use: %s, %d, %v, %q, %f and %%.
fn format(a: FuncArgs) -> Result {
    let all = args(&a);
    let spec = string(&all[0])?;
    let mut values = all[1..].iter();
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("format ends with a lone %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let value = values.next().ok_or_else(|| format!("format: not enough arguments for %{verb}"))?;
        match verb {
            's' | 'v' => out.push_str(&to_text(value)),
            'd' => out.push_str(&(number(value)? as i64).to_string()),
            'f' => out.push_str(&format!("{:.6}", number(value)?)),
            'q' => out.push_str(&format!("{:?}", to_text(value))),
            other => return Err(format!("format: unsupported verb %{other}")),
        }
    }
    Ok(Value::String(out))
}
fn length(a: FuncArgs) -> Result {
    let n = match &a[0] {
        Value::String(s) => s.chars().count(),
        Value::Array(v) => v.len(),
        Value::Object(m) => m.len(),
        other => return Err(format!("length: expected a string, list or map, got {other}")),
    };
    Ok(num(n as f64))
}
fn concat(a: FuncArgs) -> Result {
    let mut out = Vec::new();
    for list in a.iter() {
        out.extend(array(list)?.iter().cloned());
    }
    Ok(Value::Array(out))
}
fn contains(a: FuncArgs) -> Result {
    Ok(Value::Bool(array(&a[0])?.contains(&a[1])))
}
fn keys(a: FuncArgs) -> Result {
    Ok(Value::Array(object(&a[0])?.keys().map(|k| Value::String(k.clone())).collect()))
}
fn values(a: FuncArgs) -> Result {
    Ok(Value::Array(object(&a[0])?.values().cloned().collect()))
}
fn lookup(a: FuncArgs) -> Result {
    let all = args(&a);
    match object(&all[0])?.get(string(&all[1])?) {
        Some(v) => Ok(v.clone()),
        None => all.get(2).cloned().ok_or_else(|| format!("lookup: no key {:?} and no default", to_text(&all[1]))),
    }
}
fn merge(a: FuncArgs) -> Result {
    let mut out = Map::new();
    for m in a.iter() {
        out.extend(object(m)?.clone());
    }
    Ok(Value::Object(out))
}
fn element(a: FuncArgs) -> Result {
    let list = array(&a[0])?;
    if list.is_empty() {
        return Err("element: the list is empty".into());
    }
    Ok(list[(number(&a[1])? as usize) % list.len()].clone())
}
fn index(a: FuncArgs) -> Result {
    let pos = array(&a[0])?.iter().position(|v| *v == a[1]).ok_or("index: value not in list")?;
    Ok(num(pos as f64))
}
fn distinct(a: FuncArgs) -> Result {
    let mut out: Vec<Value> = Vec::new();
    for v in array(&a[0])? {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}
fn flatten(a: FuncArgs) -> Result {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    walk(&a[0], &mut out);
    Ok(Value::Array(out))
}
fn reverse(a: FuncArgs) -> Result {
    Ok(Value::Array(array(&a[0])?.iter().rev().cloned().collect()))
}
fn sort(a: FuncArgs) -> Result {
    let mut items: Vec<String> = array(&a[0])?.iter().map(to_text).collect();
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}
fn range(a: FuncArgs) -> Result {
    let all: Vec<f64> = a.iter().map(number).collect::<std::result::Result<_, _>>()?;
    let (start, end, step) = match all.as_slice() {
        [end] => (0.0, *end, 1.0),
        [start, end] => (*start, *end, if end >= start { 1.0 } else { -1.0 }),
        [start, end, step] => (*start, *end, *step),
        _ => return Err("range takes 1 to 3 numbers".into()),
    };
    if step == 0.0 {
        return Err("range: step must not be 0".into());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
        out.push(num(x));
        x += step;
        if out.len() > 1024 {
            return Err("range: more than 1024 elements".into());
        }
    }
    Ok(Value::Array(out))
}
fn coalesce(a: FuncArgs) -> Result {
    Ok(a.iter().find(|v| !v.is_null() && v.as_str() != Some("")).cloned().unwrap_or(Value::Null))
}
fn compact(a: FuncArgs) -> Result {
    Ok(Value::Array(array(&a[0])?.iter().filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).cloned().collect()))
}
fn min(a: FuncArgs) -> Result {
    let all: Vec<f64> = a.iter().map(number).collect::<std::result::Result<_, _>>()?;
    all.into_iter().reduce(f64::min).map(num).ok_or_else(|| "min needs at least one number".into())
}
fn max(a: FuncArgs) -> Result {
    let all: Vec<f64> = a.iter().map(number).collect::<std::result::Result<_, _>>()?;
    all.into_iter().reduce(f64::max).map(num).ok_or_else(|| "max needs at least one number".into())
}
fn abs(a: FuncArgs) -> Result {
    Ok(num(number(&a[0])?.abs()))
}
fn ceil(a: FuncArgs) -> Result {
    Ok(num(number(&a[0])?.ceil()))
}
fn floor(a: FuncArgs) -> Result {
    Ok(num(number(&a[0])?.floor()))
}
fn parseint(a: FuncArgs) -> Result {
    let base = number(&a[1])? as u32;
    let n = i64::from_str_radix(string(&a[0])?, base).map_err(|e| format!("parseint: {e}"))?;
    Ok(num(n as f64))
}
fn tostring(a: FuncArgs) -> Result {
    Ok(Value::String(to_text(&a[0])))
}
fn tonumber(a: FuncArgs) -> Result {
    match &a[0] {
        Value::Number(_) => Ok(a[0].clone()),
        Value::String(s) => s.trim().parse::<f64>().map(num).map_err(|_| format!("tonumber: {s:?} is not a number")),
        other => Err(format!("tonumber: cannot convert {other}")),
    }
}
fn tobool(a: FuncArgs) -> Result {
    match &a[0] {
        Value::Bool(_) => Ok(a[0].clone()),
        Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        other => Err(format!("tobool: cannot convert {other}")),
    }
}
fn tolist(a: FuncArgs) -> Result {
    Ok(Value::Array(array(&a[0])?.clone()))
}
/// Object keys come out sorted, as Nomad's jsonencode writes them.
fn jsonencode(a: FuncArgs) -> Result {
    let sorted = serde_json::to_value(&a[0]).map_err(|e| format!("jsonencode: {e}"))?;
    Ok(Value::String(sorted.to_string()))
}
fn jsondecode(a: FuncArgs) -> Result {
    serde_json::from_str(string(&a[0])?).map_err(|e| format!("jsondecode: {e}"))
}
fn yamldecode(a: FuncArgs) -> Result {
    serde_norway::from_str(string(&a[0])?).map_err(|e| format!("yamldecode: {e}"))
}

fn base64encode(a: FuncArgs) -> Result {
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(string(&a[0])?)))
}
fn base64decode(a: FuncArgs) -> Result {
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(string(&a[0])?).map_err(|e| format!("base64decode: {e}"))?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| "base64decode: the result is not UTF-8 text".into())
}
/// Expands a leading `~` to the home directory.
fn pathexpand(a: FuncArgs) -> Result {
    let path = string(&a[0])?;
    let home = std::env::var("HOME").unwrap_or_default();
    Ok(Value::String(match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
        _ => path.to_string(),
    }))
}

fn file(a: FuncArgs) -> Result {
    let path = string(&a[0])?;
    let full = BASE_DIR.with(|b| b.borrow().join(path));
    std::fs::read_to_string(&full).map(Value::String).map_err(|e| format!("file({path:?}): {e}"))
}

/// Declares every function in `ctx`.
pub fn declare_all(ctx: &mut Context<'static>) {
    use ParamType::{Any, Number as N, String as S};
    let list = || ParamType::array_of(Any);
    let map = || ParamType::object_of(Any);
    let table: Vec<(&str, Vec<ParamType>, Option<ParamType>, hcl::eval::Func)> = vec![
        ("upper", vec![S], None, upper),
        ("lower", vec![S], None, lower),
        ("title", vec![S], None, title),
        ("trimspace", vec![S], None, trimspace),
        ("strrev", vec![S], None, strrev),
        ("trim", vec![S, S], None, trim),
        ("trimprefix", vec![S, S], None, trimprefix),
        ("trimsuffix", vec![S, S], None, trimsuffix),
        ("startswith", vec![S, S], None, startswith),
        ("endswith", vec![S, S], None, endswith),
        ("replace", vec![S, S, S], None, replace),
        ("split", vec![S, S], None, split),
        ("join", vec![S, list()], None, join),
        ("substr", vec![S, N, N], None, substr),
        ("format", vec![S], Some(Any), format),
        ("length", vec![Any], None, length),
        ("concat", vec![], Some(list()), concat),
        ("contains", vec![list(), Any], None, contains),
        ("keys", vec![map()], None, keys),
        ("values", vec![map()], None, values),
        ("lookup", vec![map(), S], Some(Any), lookup),
        ("merge", vec![], Some(map()), merge),
        ("element", vec![list(), N], None, element),
        ("index", vec![list(), Any], None, index),
        ("distinct", vec![list()], None, distinct),
        ("flatten", vec![list()], None, flatten),
        ("reverse", vec![list()], None, reverse),
        ("sort", vec![list()], None, sort),
        ("range", vec![], Some(N), range),
        ("coalesce", vec![], Some(Any), coalesce),
        ("compact", vec![list()], None, compact),
        ("min", vec![], Some(N), min),
        ("max", vec![], Some(N), max),
        ("abs", vec![N], None, abs),
        ("ceil", vec![N], None, ceil),
        ("floor", vec![N], None, floor),
        ("parseint", vec![S, N], None, parseint),
        ("tostring", vec![Any], None, tostring),
        ("tonumber", vec![Any], None, tonumber),
        ("tobool", vec![Any], None, tobool),
        ("tolist", vec![list()], None, tolist),
        ("jsonencode", vec![Any], None, jsonencode),
        ("jsondecode", vec![S], None, jsondecode),
        ("yamldecode", vec![S], None, yamldecode),
        ("base64encode", vec![S], None, base64encode),
        ("base64decode", vec![S], None, base64decode),
        ("file", vec![S], None, file),
        ("pathexpand", vec![S], None, pathexpand),
    ];
    for (name, params, variadic, func) in table {
        let mut builder = FuncDef::builder().params(params);
        if let Some(v) = variadic {
            builder = builder.variadic_param(v);
        }
        ctx.declare_func(name, builder.build(func));
    }
}
