//! The `group` block.

use super::blocks::{
    affinity, constraint, disconnect, ephemeral_disk, migrate, reschedule, restart, scaling, spread, update, volume,
};
use super::job::Inherited;
use super::network::{network, service};
use super::{inherit, last_onto, one_label, schema, task, Decoder, Scope};
use crate::structs::{RestartPolicy, TaskGroup};

const GROUP: super::Schema = schema(
    &["meta", "count", "max_client_disconnect", "stop_after_client_disconnect", "shutdown_delay"],
    &[
        "task",
        "meta",
        "constraint",
        "affinity",
        "spread",
        "network",
        "service",
        "volume",
        "restart",
        "reschedule",
        "update",
        "migrate",
        "ephemeral_disk",
        "disconnect",
        "scaling",
    ],
);

pub fn decode(d: &mut Decoder, parent: &Scope, block: &hcl::Block, inherited: &Inherited) -> Option<TaskGroup> {
    let name = one_label(d, parent, block)?;
    let scope = parent.child(block);
    d.check(&scope, &GROUP);
    let mut group = TaskGroup { name, count: d.uint(&scope, "count").unwrap_or(1), ..TaskGroup::default() };
    group.meta = d.map_named(&scope, "meta");
    group.constraints = scope.blocks("constraint").map(|b| constraint(d, &scope.child(b))).collect();
    group.affinities = scope.blocks("affinity").map(|b| affinity(d, &scope.child(b))).collect();
    group.spreads = scope.blocks("spread").map(|b| spread(d, &scope.child(b))).collect();
    group.networks = scope.blocks("network").map(|b| network(d, &scope.child(b))).collect();
    group.services = scope.blocks("service").map(|b| service(d, &scope.child(b))).collect();
    for block in scope.blocks("volume") {
        if let Some(label) = one_label(d, &scope, block) {
            let request = volume(d, &scope.child(block), &label);
            group.volumes.insert(label, request);
        }
    }
    let restart_base = RestartPolicy::for_job_type(inherited.job_type);
    group.restart_policy = Some(last_onto(d, &scope, "restart", restart_base.clone(), restart).unwrap_or(restart_base));
    group.reschedule_policy = inherit(d, &scope, "reschedule", &inherited.reschedule, reschedule);
    group.update = inherit(d, &scope, "update", &inherited.update, update);
    group.migrate = inherit(d, &scope, "migrate", &inherited.migrate, migrate);
    group.ephemeral_disk =
        Some(last_onto(d, &scope, "ephemeral_disk", Default::default(), ephemeral_disk).unwrap_or_default());
    group.disconnect = last_onto(d, &scope, "disconnect", Default::default(), disconnect);
    group.scaling = last_onto(d, &scope, "scaling", Default::default(), scaling);
    group.max_client_disconnect = d.duration(&scope, "max_client_disconnect");
    group.stop_after_client_disconnect = d.duration(&scope, "stop_after_client_disconnect");
    group.shutdown_delay = d.duration(&scope, "shutdown_delay");
    let group_restart = group.restart_policy.clone().expect("set above");
    for block in scope.blocks("task") {
        if let Some(task) = task::decode(d, &scope, block, &group_restart) {
            group.tasks.push(task);
        }
    }
    group
        .services
        .iter()
        .filter(|s| !s.task_name.is_empty() && !group.tasks.iter().any(|t| t.name == s.task_name))
        .for_each(|s| d.problem(&scope, format!("service {:?}: task {:?} is not in this group", s.name, s.task_name)));
    Some(group)
}

/// The group Nomad makes for a task written directly in the job: one of the task, named
/// after it, with the group defaults.
pub fn implicit(d: &mut Decoder, job: &Scope, task_block: &hcl::Block, inherited: &Inherited) -> Option<TaskGroup> {
    let restart = RestartPolicy::for_job_type(inherited.job_type);
    let task = task::decode(d, job, task_block, &restart)?;
    Some(TaskGroup {
        name: task.name.clone(),
        count: 1,
        restart_policy: Some(restart),
        reschedule_policy: inherited.reschedule.clone(),
        update: inherited.update.clone(),
        migrate: inherited.migrate.clone(),
        ephemeral_disk: Some(Default::default()),
        tasks: vec![task],
        ..TaskGroup::default()
    })
}
