//! Job files to jobs: HCL (Nomad's job specification) and JSON (Nomad's API form), with
//! Nomad's defaults filled in and every mistake explained with where it is.
//!
//! Supported so far: job, group and task with type, datacenters, priority, region,
//! namespace, node_pool, meta, count, restart, ephemeral_disk, driver, user, config, env,
//! resources (cpu, memory, memory_max), kill_timeout, kill_signal and logs.

pub(crate) mod decode;
mod defaults;
mod duration;
mod error;
mod eval;
mod format;
mod functions;
mod hcl;
mod json;
pub mod suggest;
mod validate;
mod variables;

pub use defaults::canonicalize;
pub use duration::parse_duration;
pub use error::JobspecError;
pub use format::format;
pub use validate::validate;
pub use variables::VarSources;

use crate::structs::Job;
use std::path::Path;

/// Parses an HCL job file's text (with no variable values given), fills in defaults and
/// validates it.
pub fn parse_hcl(src: &str, filename: &str) -> Result<Job, JobspecError> {
    parse_hcl_with(src, filename, &VarSources::default())
}

/// Parses an HCL job file's text with variable values, fills in defaults and validates it.
pub fn parse_hcl_with(src: &str, filename: &str, vars: &VarSources) -> Result<Job, JobspecError> {
    let mut job = hcl::parse(src, filename, vars)?;
    canonicalize(&mut job);
    validate(&job).map_err(|e| e.in_file(filename))?;
    Ok(job)
}

/// Parses a JSON job (`{"Job": {...}}` or a bare job object), fills in defaults and
/// validates it.
pub fn parse_json(src: &str, filename: &str) -> Result<Job, JobspecError> {
    let mut job = json::parse(src, filename)?;
    canonicalize(&mut job);
    validate(&job).map_err(|e| e.in_file(filename))?;
    Ok(job)
}

/// Reads and parses a job file: `.json` as JSON, anything else as HCL; `file()` reads
/// relative to the job file's directory.
pub fn parse_file(path: &Path, vars: &VarSources) -> Result<Job, JobspecError> {
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| JobspecError::Io { file: name.clone(), source })?;
    if path.extension().is_some_and(|e| e == "json") {
        return parse_json(&src, &name);
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    functions::set_base_dir(dir.to_path_buf());
    parse_hcl_with(&src, &name, vars)
}
#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_blocks;

#[cfg(test)]
mod tests_vars;
