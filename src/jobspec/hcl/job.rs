//! The `job` block.

use super::blocks::{affinity, constraint, parameterized, periodic, reschedule, spread, update};
use super::{group, last_onto, one_label, schema, Decoder, Scope};
use crate::structs::{Job, JobType, MigrateStrategy, ReschedulePolicy, UpdateStrategy};

const JOB: super::Schema = schema(
    &["meta", "type", "datacenters", "priority", "region", "namespace", "node_pool", "name", "all_at_once"],
    &[
        "group",
        "task",
        "meta",
        "constraint",
        "affinity",
        "spread",
        "update",
        "migrate",
        "reschedule",
        "periodic",
        "parameterized",
    ],
);

/// What groups inherit from their job.
pub struct Inherited {
    pub job_type: JobType,
    pub update: Option<UpdateStrategy>,
    pub migrate: Option<MigrateStrategy>,
    pub reschedule: Option<ReschedulePolicy>,
}

pub fn decode(d: &mut Decoder, top: &Scope, block: &hcl::Block) -> Option<Job> {
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
    job.priority = d.int(&scope, "priority").map_or(0, |p| p.clamp(i32::MIN.into(), i32::MAX.into()) as i32);
    job.region = d.string(&scope, "region").unwrap_or_default();
    job.namespace = d.string(&scope, "namespace").unwrap_or_default();
    job.node_pool = d.string(&scope, "node_pool").unwrap_or_default();
    job.all_at_once = d.boolean(&scope, "all_at_once").unwrap_or(false);
    job.meta = d.map_named(&scope, "meta");
    job.constraints = scope.blocks("constraint").map(|b| constraint(d, &scope.child(b))).collect();
    job.affinities = scope.blocks("affinity").map(|b| affinity(d, &scope.child(b))).collect();
    job.spreads = scope.blocks("spread").map(|b| spread(d, &scope.child(b))).collect();
    job.periodic = last_onto(d, &scope, "periodic", Default::default(), periodic);
    job.parameterized_job = last_onto(d, &scope, "parameterized", Default::default(), parameterized);

    // Services and system jobs roll out updates; services and batch jobs reschedule and
    // (services) migrate. A job-level block is the base each group's own block refines.
    let rolls = matches!(job.job_type, JobType::Service | JobType::System);
    let job_update = last_onto(d, &scope, "update", UpdateStrategy::default(), update);
    job.update = job_update.clone().or_else(|| rolls.then(UpdateStrategy::default));
    let job_migrate = last_onto(d, &scope, "migrate", MigrateStrategy::default(), super::blocks::migrate);
    let reschedules = matches!(job.job_type, JobType::Service | JobType::Batch);
    let reschedule_base = ReschedulePolicy::for_job_type(job.job_type);
    let job_reschedule = last_onto(d, &scope, "reschedule", reschedule_base.clone(), reschedule);
    let inherited = Inherited {
        job_type: job.job_type,
        update: job.update.clone().filter(|_| rolls),
        migrate: (job.job_type == JobType::Service).then(|| job_migrate.unwrap_or_default()),
        reschedule: reschedules.then(|| job_reschedule.unwrap_or(reschedule_base)),
    };
    for group in scope.blocks("group") {
        if let Some(group) = group::decode(d, &scope, group, &inherited) {
            job.task_groups.push(group);
        }
    }
    // A task written directly in the job runs in a group of its own name, as Nomad allows.
    for task in scope.blocks("task") {
        if let Some(group) = group::implicit(d, &scope, task, &inherited) {
            job.task_groups.push(group);
        }
    }
    Some(job)
}
