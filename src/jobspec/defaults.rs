//! Nomad's defaults for whatever a job leaves out, and inheritance from job to group to
//! task, for jobs that arrive as JSON (HCL jobs get the same while they are decoded).

use crate::structs::{
    EphemeralDisk, Job, JobType, LogConfig, MigrateStrategy, ReschedulePolicy, RestartPolicy, UpdateStrategy,
    DEFAULT_NAMESPACE,
};
use std::time::Duration;

const DEFAULT_PRIORITY: i32 = 50;
const DEFAULT_CPU_MHZ: u64 = 100;
const DEFAULT_MEMORY_MB: u64 = 300;
const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Fills in defaults in place; a job already canonical is left unchanged.
pub fn canonicalize(job: &mut Job) {
    if job.name.is_empty() {
        job.name = job.id.clone();
    }
    if job.namespace.is_empty() {
        job.namespace = DEFAULT_NAMESPACE.into();
    }
    if job.region.is_empty() {
        job.region = "global".into();
    }
    if job.priority == 0 {
        job.priority = DEFAULT_PRIORITY;
    }
    if job.datacenters.is_empty() {
        job.datacenters = vec!["*".into()];
    }
    if job.node_pool.is_empty() {
        job.node_pool = "default".into();
    }
    let rolls = matches!(job.job_type, JobType::Service | JobType::System);
    if rolls && job.update.is_none() {
        job.update = Some(UpdateStrategy::default());
    }
    let job_type = job.job_type;
    let job_update = job.update.clone().filter(|_| rolls);
    for group in &mut job.task_groups {
        let restart = group.restart_policy.get_or_insert_with(|| RestartPolicy::for_job_type(job_type)).clone();
        if group.update.is_none() {
            group.update = job_update.clone();
        }
        if group.migrate.is_none() && job_type == JobType::Service {
            group.migrate = Some(MigrateStrategy::default());
        }
        if group.reschedule_policy.is_none() && matches!(job_type, JobType::Service | JobType::Batch) {
            group.reschedule_policy = Some(ReschedulePolicy::for_job_type(job_type));
        }
        group.ephemeral_disk.get_or_insert_with(EphemeralDisk::default);
        for task in &mut group.tasks {
            task.restart_policy.get_or_insert_with(|| restart.clone());
            task.log_config.get_or_insert_with(LogConfig::default);
            if task.resources.cpu == 0 && task.resources.cores == 0 {
                task.resources.cpu = DEFAULT_CPU_MHZ;
            }
            if task.resources.memory_mb == 0 {
                task.resources.memory_mb = DEFAULT_MEMORY_MB;
            }
            if task.kill_timeout.is_zero() {
                task.kill_timeout = DEFAULT_KILL_TIMEOUT;
            }
            for service in &mut task.services {
                service.task_name = task.name.clone();
            }
        }
    }
}
