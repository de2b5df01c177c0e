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
mod hcl;
mod json;
pub mod suggest;
mod validate;

pub use defaults::canonicalize;
pub use duration::parse_duration;
pub use error::JobspecError;
pub use validate::validate;

use crate::structs::Job;
use std::path::Path;

/// Parses an HCL job file's text, fills in defaults and validates it.
pub fn parse_hcl(src: &str, filename: &str) -> Result<Job, JobspecError> {
    let mut job = hcl::parse(src, filename)?;
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

/// Reads and parses a job file: `.json` as JSON, anything else as HCL.
pub fn parse_file(path: &Path) -> Result<Job, JobspecError> {
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| JobspecError::Io { file: name.clone(), source })?;
    if path.extension().is_some_and(|e| e == "json") {
        parse_json(&src, &name)
    } else {
        parse_hcl(&src, &name)
    }
}
#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_blocks;
