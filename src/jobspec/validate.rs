//! Semantic checks of a whole job; every problem is reported, each with its path.

use super::error::JobspecError;
use crate::structs::Job;
use std::collections::BTreeSet;

const MIN_MEMORY_MB: u64 = 10;

pub fn validate(job: &Job) -> Result<(), JobspecError> {
    let mut problems = Vec::new();
    let job_path = format!("job {:?}", job.id);
    if job.id.is_empty() {
        problems.push("job ID is required".to_string());
    } else if job.id.contains(char::is_whitespace) || job.id.contains('\0') {
        problems.push(format!("{job_path}: job ID must not contain spaces or null characters"));
    }
    if !(1..=100).contains(&job.priority) {
        problems.push(format!("{job_path}: priority must be between 1 and 100, got {}", job.priority));
    }
    if job.datacenters.is_empty() {
        problems.push(format!("{job_path}: datacenters must list at least one datacenter"));
    }
    if job.task_groups.is_empty() {
        problems.push(format!("{job_path}: a job needs at least one group"));
    }
    let mut groups = BTreeSet::new();
    for group in &job.task_groups {
        let path = format!("group {:?}", group.name);
        if group.name.is_empty() {
            problems.push(format!("{job_path}: every group needs a name"));
        } else if !groups.insert(&group.name) {
            problems.push(format!("{path}: group name is used more than once"));
        }
        if group.tasks.is_empty() {
            problems.push(format!("{path}: a group needs at least one task"));
        }
        let mut tasks = BTreeSet::new();
        for task in &group.tasks {
            let path = format!("{path} -> task {:?}", task.name);
            if task.name.is_empty() {
                problems.push(format!("group {:?}: every task needs a name", group.name));
            } else if !tasks.insert(&task.name) {
                problems.push(format!("{path}: task name is used more than once in the group"));
            }
            if task.driver.is_empty() {
                problems.push(format!("{path}: driver is required"));
            }
            let r = &task.resources;
            if r.cpu < 1 && r.cores < 1 {
                problems.push(format!("{path} -> resources: cpu must be at least 1 MHz (or set cores)"));
            }
            if r.memory_mb < MIN_MEMORY_MB {
                problems.push(format!("{path} -> resources: memory must be at least {MIN_MEMORY_MB} MB"));
            }
            if r.memory_max_mb != 0 && r.memory_max_mb < r.memory_mb {
                problems.push(format!(
                    "{path} -> resources: memory_max ({} MB) must not be less than memory ({} MB)",
                    r.memory_max_mb, r.memory_mb
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(JobspecError::Invalid { file: None, problems })
    }
}
