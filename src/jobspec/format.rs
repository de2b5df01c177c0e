//! Canonical formatting of HCL job files (`rove fmt`): two-space indentation by nesting,
//! `=` aligned across runs of single-line attributes, `key = value` spacing, at most one
//! blank line in a row, one final newline. Comments and heredocs are kept as written.
//! The result is checked to parse to exactly the same body as the input.

use super::error::JobspecError;

/// Where the scanner is inside a line.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Code,
    Str,
    /// Inside `${ ... }` or `%{ ... }` within a string; counts nested braces.
    Interp(u32),
    BlockComment,
}

/// What a line of source looks like to the formatter.
struct Line {
    text: String,
    /// Nesting depth at the start of the line.
    depth: i32,
    /// Closing brackets the line starts with (they dedent it).
    leading_closers: i32,
    /// Whether the line ends inside a string or comment, or is heredoc content: keep as is.
    verbatim: bool,
    /// Byte offset of the attribute's `=` when the line is a one-line attribute.
    equals: Option<usize>,
}

struct Scanner {
    stack: Vec<State>,
    depth: i32,
    heredoc_end: Option<String>,
}

impl Scanner {
    fn state(&self) -> State {
        *self.stack.last().unwrap_or(&State::Code)
    }

    /// Scans one line, updating nesting; returns the `=` of an attribute, if any, and the
    /// line's net change in bracket depth.
    fn scan(&mut self, line: &str) -> (Option<usize>, i32) {
        let bytes = line.as_bytes();
        let start_depth = self.depth;
        let mut equals = None;
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            match self.state() {
                State::Code => match c {
                    b'"' => self.stack.push(State::Str),
                    b'#' => break,
                    b'/' if next == Some(b'/') => break,
                    b'/' if next == Some(b'*') => {
                        self.stack.push(State::BlockComment);
                        i += 1;
                    }
                    b'<' if next == Some(b'<') => {
                        let rest = line[i + 2..].trim_start_matches('-').trim();
                        if !rest.is_empty() && rest.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                            self.heredoc_end = Some(rest.to_string());
                            break;
                        }
                    }
                    b'{' | b'[' | b'(' => self.depth += 1,
                    b'}' | b']' | b')' => self.depth -= 1,
                    b'=' if equals.is_none()
                        && !seen_code_before_key(line, i)
                        && next != Some(b'=')
                        && !matches!(i.checked_sub(1).map(|p| bytes[p]), Some(b'!' | b'<' | b'>' | b'=')) =>
                    {
                        equals = Some(i)
                    }
                    _ => {}
                },
                State::Str => match c {
                    b'\\' => i += 1,
                    b'"' => {
                        self.stack.pop();
                    }
                    b'$' | b'%' if next == Some(b'{') => {
                        self.stack.push(State::Interp(0));
                        i += 1;
                    }
                    _ => {}
                },
                State::Interp(n) => match c {
                    b'{' => *self.stack.last_mut().expect("in interp") = State::Interp(n + 1),
                    b'}' if n == 0 => {
                        self.stack.pop();
                    }
                    b'}' => *self.stack.last_mut().expect("in interp") = State::Interp(n - 1),
                    b'"' => self.stack.push(State::Str),
                    _ => {}
                },
                State::BlockComment => {
                    if c == b'*' && next == Some(b'/') {
                        self.stack.pop();
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        (equals, self.depth - start_depth)
    }
}

/// Whether something other than an identifier comes before `=` at `at` (then it is not
/// an attribute's `=`).
fn seen_code_before_key(line: &str, at: usize) -> bool {
    let key = line[..at].trim();
    let key = key.trim_matches('"');
    key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn classify(src: &str) -> Vec<Line> {
    let mut scanner = Scanner { stack: Vec::new(), depth: 0, heredoc_end: None };
    let mut lines = Vec::new();
    for raw in src.lines() {
        if let Some(end) = scanner.heredoc_end.clone() {
            if raw.trim() == end {
                scanner.heredoc_end = None;
            }
            lines.push(Line {
                text: raw.to_string(),
                depth: scanner.depth,
                leading_closers: 0,
                verbatim: true,
                equals: None,
            });
            continue;
        }
        let inside = scanner.state() != State::Code;
        let depth = scanner.depth;
        let trimmed = raw.trim();
        let leading_closers = trimmed.bytes().take_while(|b| matches!(b, b'}' | b']' | b')')).count() as i32;
        let (equals, change) = scanner.scan(trimmed);
        let one_line_attribute =
            equals.is_some() && change == 0 && scanner.state() == State::Code && scanner.heredoc_end.is_none();
        lines.push(Line {
            text: if inside { raw.to_string() } else { trimmed.to_string() },
            depth,
            leading_closers,
            verbatim: inside,
            equals: equals.filter(|_| one_line_attribute),
        });
    }
    lines
}

/// Formats a job file; errors when the input does not parse.
pub fn format(src: &str, file: &str) -> Result<String, JobspecError> {
    let before: hcl::Body = hcl::parse(src).map_err(|e| syntax(e, file))?;
    let lines = classify(src);
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        // A run of one-line attributes at the same depth aligns its `=`.
        let run_end = (i..lines.len())
            .take_while(|&j| lines[j].equals.is_some() && lines[j].depth == lines[i].depth)
            .last()
            .map_or(i, |j| j + 1);
        if run_end > i {
            let width =
                lines[i..run_end].iter().map(|l| l.text[..l.equals.unwrap()].trim_end().len()).max().unwrap_or(0);
            for line in &lines[i..run_end] {
                let at = line.equals.unwrap();
                let (key, value) = (line.text[..at].trim_end(), line.text[at + 1..].trim_start());
                let indent = "  ".repeat(line.depth.max(0) as usize);
                out.push(format!("{indent}{key:<width$} = {value}").trim_end().to_string());
            }
            i = run_end;
            continue;
        }
        let line = &lines[i];
        if line.verbatim {
            out.push(line.text.clone());
        } else if line.text.is_empty() {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
        } else {
            let indent = "  ".repeat((line.depth - line.leading_closers).max(0) as usize);
            out.push(format!("{indent}{}", line.text));
        }
        i += 1;
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    let formatted = out.join("\n") + "\n";
    let after: hcl::Body = hcl::parse(&formatted).map_err(|e| syntax(e, file))?;
    if after != before {
        return Err(JobspecError::Invalid {
            file: Some(file.to_string()),
            problems: vec!["formatting would change the file's meaning; it was left as it is".into()],
        });
    }
    Ok(formatted)
}

fn syntax(e: hcl::Error, file: &str) -> JobspecError {
    match e {
        hcl::Error::Parse(p) => JobspecError::Syntax {
            file: file.to_string(),
            line: p.location().line(),
            column: p.location().column(),
            message: p.message().to_string(),
            source_line: p.line().to_string(),
        },
        other => JobspecError::Invalid { file: Some(file.to_string()), problems: vec![other.to_string()] },
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn indents_aligns_and_keeps_comments_strings_and_heredocs() {
        let messy = "# the job\njob \"web\" {\ndatacenters=[\"dc1\"]\n    type = \"service\"\n\n\n  group \"g\" {\n  count=2 # two of them\n     task \"t\" {\n        driver=\"exec\"\n        config {\n   command = \"/bin/sh\"\n   args = [\"-c\", \"echo '{ not a block }' ${NOMAD_ALLOC_ID}\"]\n        }\n        template {\n          data = <<EOT\n  keep   this\n    as is\nEOT\n          destination = \"local/x\"\n        }\n  }\n   }\n}\n\n\n";
        let want = "# the job\njob \"web\" {\n  datacenters = [\"dc1\"]\n  type        = \"service\"\n\n  group \"g\" {\n    count = 2 # two of them\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/sh\"\n        args    = [\"-c\", \"echo '{ not a block }' ${NOMAD_ALLOC_ID}\"]\n      }\n      template {\n        data = <<EOT\n  keep   this\n    as is\nEOT\n        destination = \"local/x\"\n      }\n    }\n  }\n}\n";
        let got = format(messy, "web.hcl").unwrap();
        assert_eq!(got, want);
        assert_eq!(format(&got, "web.hcl").unwrap(), got, "formatting is idempotent");
    }

    #[test]
    fn broken_files_are_refused_with_their_position() {
        let err = format("job \"x\" {\n  count = = 1\n}\n", "x.hcl").unwrap_err().to_string();
        assert!(err.starts_with("x.hcl:2:"), "{err}");
    }
}
