//! Nomad's HCL job specification to a `Job`, block by block. Each block kind has a schema
//! listing what it may contain; anything else is reported with a suggestion.

use super::decode::{Decoder, Schema, Scope};
use super::error::JobspecError;
use crate::structs::{EphemeralDisk, Job, JobType, LogConfig, Resources, RestartMode, RestartPolicy, Task, TaskGroup};

/// Blocks valid somewhere in a job, and the block they belong in.
const HOMES: &[(&str, &str)] = &[
    ("job", "file's top level"),
    ("group", "job"),
    ("task", "group"),
    ("config", "task"),
    ("env", "task"),
    ("resources", "task"),
    ("logs", "task"),
    ("ephemeral_disk", "group"),
    ("restart", "group or task"),
    ("meta", "job, group or task"),
];

const JOB: Schema = Schema {
    attributes: &["type", "datacenters", "priority", "region", "namespace", "node_pool", "name"],
    blocks: &["group", "meta"],
    homes: HOMES,
};
const GROUP: Schema =
    Schema { attributes: &["count"], blocks: &["task", "restart", "ephemeral_disk", "meta"], homes: HOMES };
const TASK: Schema = Schema {
    attributes: &["driver", "user", "kill_timeout", "kill_signal"],
    blocks: &["config", "env", "meta", "resources", "restart", "logs"],
    homes: HOMES,
};
const RESOURCES: Schema = Schema { attributes: &["cpu", "memory", "memory_max"], blocks: &[], homes: HOMES };
const RESTART: Schema = Schema { attributes: &["attempts", "interval", "delay", "mode"], blocks: &[], homes: HOMES };
const LOGS: Schema = Schema { attributes: &["max_files", "max_file_size", "disabled"], blocks: &[], homes: HOMES };
const DISK: Schema = Schema { attributes: &["size", "migrate", "sticky"], blocks: &[], homes: HOMES };
const TOP: Schema = Schema { attributes: &[], blocks: &["job"], homes: HOMES };

pub fn parse(src: &str, file: &str) -> Result<Job, JobspecError> {
    let body: hcl::Body = hcl::parse(src).map_err(|e| syntax_error(e, src, file))?;
    let mut d = Decoder::default();
    let top = Scope::new("", &body);
    d.check(&top, &TOP);
    let jobs: Vec<_> = top.blocks("job").collect();
    let job = match jobs.as_slice() {
        [block] => decode_job(&mut d, &top, block),
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

fn decode_job(d: &mut Decoder, top: &Scope, block: &hcl::Block) -> Option<Job> {
    let id = one_label(d, top, block)?;
    let scope = top.child(block);
    d.check(&scope, &JOB);
    let mut job = Job { id: id.clone(), name: d.string(&scope, "name").unwrap_or(id), ..Job::default() };
    if let Some(kind) = d.string(&scope, "type") {
        match kind.as_str() {
            "service" => job.job_type = JobType::Service,
            "batch" => job.job_type = JobType::Batch,
            "system" => job.job_type = JobType::System,
            "sysbatch" => job.job_type = JobType::Sysbatch,
            other => d.problem(&scope, format!("type: {other:?} is not a job type (service, batch, system, sysbatch)")),
        }
    }
    job.datacenters = d.strings(&scope, "datacenters").unwrap_or_default();
    job.priority = d.int(&scope, "priority").map_or(0, |p| p.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
    job.region = d.string(&scope, "region").unwrap_or_default();
    job.namespace = d.string(&scope, "namespace").unwrap_or_default();
    job.node_pool = d.string(&scope, "node_pool").unwrap_or_default();
    for meta in scope.blocks("meta") {
        job.meta.extend(d.string_map(&scope.child(meta)));
    }
    for group in scope.blocks("group") {
        if let Some(group) = decode_group(d, &scope, group, job.job_type) {
            job.task_groups.push(group);
        }
    }
    Some(job)
}

fn decode_group(d: &mut Decoder, parent: &Scope, block: &hcl::Block, job_type: JobType) -> Option<TaskGroup> {
    let name = one_label(d, parent, block)?;
    let scope = parent.child(block);
    d.check(&scope, &GROUP);
    let mut group = TaskGroup { name, count: d.uint(&scope, "count").unwrap_or(1), ..TaskGroup::default() };
    let defaults = RestartPolicy::for_job_type(job_type);
    group.restart_policy = scope.blocks("restart").last().map(|b| decode_restart(d, &scope.child(b), &defaults));
    group.ephemeral_disk = scope.blocks("ephemeral_disk").last().map(|b| {
        let disk = scope.child(b);
        d.check(&disk, &DISK);
        EphemeralDisk { size_mb: d.uint(&disk, "size").unwrap_or(EphemeralDisk::default().size_mb) }
    });
    for meta in scope.blocks("meta") {
        group.meta.extend(d.string_map(&scope.child(meta)));
    }
    for task in scope.blocks("task") {
        let inherited = group.restart_policy.clone().unwrap_or_else(|| defaults.clone());
        if let Some(task) = decode_task(d, &scope, task, &inherited) {
            group.tasks.push(task);
        }
    }
    Some(group)
}

fn decode_task(d: &mut Decoder, parent: &Scope, block: &hcl::Block, group_restart: &RestartPolicy) -> Option<Task> {
    let name = one_label(d, parent, block)?;
    let scope = parent.child(block);
    d.check(&scope, &TASK);
    let mut task = Task {
        name,
        driver: d.string(&scope, "driver").unwrap_or_default(),
        user: d.string(&scope, "user").unwrap_or_default(),
        kill_signal: d.string(&scope, "kill_signal").unwrap_or_default(),
        kill_timeout: d.duration(&scope, "kill_timeout").unwrap_or_default(),
        ..Task::default()
    };
    for config in scope.blocks("config") {
        task.config.extend(d.free_form(&scope.child(config)));
    }
    for env in scope.blocks("env") {
        task.env.extend(d.string_map(&scope.child(env)));
    }
    for meta in scope.blocks("meta") {
        task.meta.extend(d.string_map(&scope.child(meta)));
    }
    if let Some(block) = scope.blocks("resources").last() {
        let res = scope.child(block);
        d.check(&res, &RESOURCES);
        task.resources = Resources {
            cpu: d.uint(&res, "cpu").unwrap_or(0),
            memory_mb: d.uint(&res, "memory").unwrap_or(0),
            memory_max_mb: d.uint(&res, "memory_max").unwrap_or(0),
            disk_mb: 0,
        };
    }
    task.restart_policy = scope.blocks("restart").last().map(|b| decode_restart(d, &scope.child(b), group_restart));
    task.log_config = scope.blocks("logs").last().map(|b| {
        let logs = scope.child(b);
        d.check(&logs, &LOGS);
        let defaults = LogConfig::default();
        LogConfig {
            max_files: d.uint(&logs, "max_files").unwrap_or(defaults.max_files),
            max_file_size_mb: d.uint(&logs, "max_file_size").unwrap_or(defaults.max_file_size_mb),
        }
    });
    Some(task)
}

/// A restart block; what it leaves out comes from `base` (the job type's defaults for a
/// group, the group's policy for a task), as Nomad merges them.
fn decode_restart(d: &mut Decoder, scope: &Scope, base: &RestartPolicy) -> RestartPolicy {
    d.check(scope, &RESTART);
    let mode = match d.string(scope, "mode").as_deref() {
        None => base.mode,
        Some("fail") => RestartMode::Fail,
        Some("delay") => RestartMode::Delay,
        Some(other) => {
            d.problem(scope, format!("mode: {other:?} is not a restart mode (fail, delay)"));
            base.mode
        }
    };
    RestartPolicy {
        attempts: d.uint(scope, "attempts").unwrap_or(base.attempts),
        interval: d.duration(scope, "interval").unwrap_or(base.interval),
        delay: d.duration(scope, "delay").unwrap_or(base.delay),
        mode,
    }
}
