//! Jobs in Nomad's API JSON form: `{"Job": {...}}` or a bare job object.

use super::error::JobspecError;
use crate::structs::Job;

pub fn parse(src: &str, file: &str) -> Result<Job, JobspecError> {
    // Decode as a generic value first, for positions of syntax errors ...
    let value: serde_json::Value = serde_json::from_str(src).map_err(|e| JobspecError::Syntax {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
        source_line: src.lines().nth(e.line().saturating_sub(1)).unwrap_or_default().to_string(),
    })?;
    // ... then as a job, for the path of a field with the wrong type.
    let wrapped = value.get("Job").is_some();
    let target = if wrapped { value["Job"].clone() } else { value };
    let job: Job = serde_path_to_error::deserialize(target).map_err(|e| JobspecError::Invalid {
        file: Some(file.to_string()),
        problems: vec![format!("{}{}: {}", if wrapped { "Job." } else { "" }, e.path(), e.inner())],
    })?;
    Ok(job)
}
