//! Job file errors: syntax errors with their position and line, and lists of problems
//! each named by its path in the job.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum JobspecError {
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("{}", syntax(.file, *.line, *.column, .message, .source_line))]
    Syntax { file: String, line: usize, column: usize, message: String, source_line: String },
    #[error("{}", Problems(.file, .problems))]
    Invalid { file: Option<String>, problems: Vec<String> },
}

impl JobspecError {
    /// Names the file the problems were found in.
    pub fn in_file(self, file: &str) -> JobspecError {
        match self {
            JobspecError::Invalid { file: None, problems } => {
                JobspecError::Invalid { file: Some(file.to_string()), problems }
            }
            other => other,
        }
    }
}

fn syntax(file: &str, line: usize, column: usize, message: &str, source_line: &str) -> String {
    let marker = " ".repeat(column.saturating_sub(1));
    format!("{file}:{line}:{column}: {message}\n  {source_line}\n  {marker}^")
}

struct Problems<'a>(&'a Option<String>, &'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.1.len();
        let noun = if count == 1 { "error" } else { "errors" };
        match self.0 {
            Some(file) => write!(f, "{file}: {count} {noun} in job")?,
            None => write!(f, "{count} {noun} in job")?,
        }
        for problem in self.1 {
            write!(f, "\n  * {problem}")?;
        }
        Ok(())
    }
}
