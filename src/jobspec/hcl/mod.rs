//! Nomad's HCL job specification to a `Job`. Each block kind has a schema listing what it
//! may contain; anything else is reported with a suggestion, and features rove does not
//! support are refused by name. Blocks inherit as Nomad's do: each is decoded on top of
//! its parent's effective value (job `update`, `migrate`, `reschedule` into groups, group
//! `restart` into tasks), so only what a block sets overrides.

mod blocks;
mod group;
mod job;
mod network;
mod task;

use super::decode::{Decoder, Schema, Scope};
use super::error::JobspecError;
use super::variables::VarSources;
use crate::structs::Job;

/// Blocks valid somewhere in a job, and the block they belong in.
const HOMES: &[(&str, &str)] = &[
    ("job", "file's top level"),
    ("group", "job"),
    ("task", "group"),
    ("config", "task"),
    ("env", "task"),
    ("resources", "task"),
    ("logs", "task"),
    ("artifact", "task"),
    ("template", "task"),
    ("lifecycle", "task"),
    ("volume_mount", "task"),
    ("dispatch_payload", "task"),
    ("network", "group"),
    ("volume", "group"),
    ("ephemeral_disk", "group"),
    ("disconnect", "group"),
    ("scaling", "group"),
    ("periodic", "job"),
    ("parameterized", "job"),
    ("port", "network"),
    ("check", "service"),
    ("restart", "group or task"),
    ("service", "group or task"),
];

/// Nomad features rove reads but refuses, and why.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("vault", "there is no Vault integration; pass secrets with templates or env"),
    ("connect", "Consul Connect service mesh is not available"),
    ("consul", "there is no Consul integration; services use rove's own catalog"),
    ("identity", "workload identities are not issued"),
    ("device", "device plugins (GPUs and the like) are not available"),
    ("csi_plugin", "CSI plugins are not available; use host volumes"),
    ("multiregion", "multiregion deployments are not available"),
    ("action", "task actions are not available"),
    ("secret", "secret providers are not available; pass secrets with templates or env"),
    ("schedule", "time-based task schedules are not available"),
    ("cni", "CNI arguments are not available"),
    ("max_run_duration", "run-duration limits for batch jobs are not available"),
    ("sticky", "sticky host volumes are not available"),
    ("hostname", "setting the network namespace's hostname is not available"),
];

/// A schema for a block of this job specification.
const fn schema<'s>(attributes: &'s [&'s str], blocks: &'s [&'s str]) -> Schema<'s> {
    Schema { attributes, blocks, homes: HOMES, unsupported: UNSUPPORTED }
}

pub fn parse(src: &str, file: &str, vars: &VarSources) -> Result<Job, JobspecError> {
    let body: hcl::Body = hcl::parse(src).map_err(|e| syntax_error(e, src, file))?;
    let mut d = Decoder::default();
    let top = Scope::new("", &body);
    d.check(&top, &schema(&[], &["job", "variable", "locals"]));
    super::variables::resolve(&mut d, &top, vars);
    let jobs: Vec<_> = top.blocks("job").collect();
    let job = match jobs.as_slice() {
        [block] => job::decode(&mut d, &top, block),
        [] => {
            d.problems.push("no job block found: a job file needs one `job \"<id>\" { ... }`".into());
            None
        }
        _ => {
            d.problems.push(format!("found {} job blocks: a job file holds exactly one", jobs.len()));
            None
        }
    };
    match job {
        Some(job) if d.problems.is_empty() => Ok(job),
        _ => Err(JobspecError::Invalid { file: Some(file.to_string()), problems: d.problems }),
    }
}

fn syntax_error(e: hcl::Error, src: &str, file: &str) -> JobspecError {
    match e {
        hcl::Error::Parse(parse) => {
            let location = parse.location();
            JobspecError::Syntax {
                file: file.to_string(),
                line: location.line(),
                column: location.column(),
                message: parse.message().to_string(),
                source_line: src.lines().nth(location.line().saturating_sub(1)).unwrap_or_default().to_string(),
            }
        }
        other => JobspecError::Invalid { file: Some(file.to_string()), problems: vec![other.to_string()] },
    }
}

/// The one label of a `group "name"`-style block.
fn one_label(d: &mut Decoder, scope: &Scope, block: &hcl::Block) -> Option<String> {
    match block.labels.as_slice() {
        [label] => Some(label.as_str().to_string()),
        labels => {
            let kind = block.identifier.as_str();
            d.problem(
                scope,
                format!("{kind} block needs exactly one label (`{kind} \"name\" {{ ... }}`), found {}", labels.len()),
            );
            None
        }
    }
}

/// The last block of a kind, decoded on top of `base` (Nomad keeps the last one).
fn last_onto<T>(
    d: &mut Decoder,
    scope: &Scope,
    name: &'static str,
    base: T,
    decode: impl Fn(&mut Decoder, &Scope, T) -> T,
) -> Option<T> {
    scope.blocks(name).last().map(|block| decode(d, &scope.child(block), base))
}

/// A group's block refining what it inherits from the job; without an inherited value the
/// group's own block stands alone on the defaults.
fn inherit<T: Clone + Default>(
    d: &mut Decoder,
    scope: &Scope,
    name: &'static str,
    inherited: &Option<T>,
    decode: impl Fn(&mut Decoder, &Scope, T) -> T,
) -> Option<T> {
    let base = inherited.clone().unwrap_or_default();
    last_onto(d, scope, name, base, decode).or_else(|| inherited.clone())
}
