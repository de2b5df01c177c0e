//! The `task` block.

use super::blocks::{
    affinity, artifact, constraint, dispatch_payload, lifecycle, logs, resources, restart, template, volume_mount,
};
use super::network::service;
use super::{last_onto, one_label, schema, Decoder, Scope};
use crate::structs::{RestartPolicy, Task};

const TASK: super::Schema = schema(
    &["meta", "env", "driver", "user", "kill_timeout", "kill_signal", "leader", "shutdown_delay", "kind"],
    &[
        "config",
        "env",
        "meta",
        "resources",
        "restart",
        "logs",
        "artifact",
        "template",
        "service",
        "lifecycle",
        "constraint",
        "affinity",
        "volume_mount",
        "dispatch_payload",
    ],
);

pub fn decode(d: &mut Decoder, parent: &Scope, block: &hcl::Block, group_restart: &RestartPolicy) -> Option<Task> {
    let name = one_label(d, parent, block)?;
    let scope = parent.child(block);
    d.check(&scope, &TASK);
    let mut task = Task {
        name: name.clone(),
        driver: d.string(&scope, "driver").unwrap_or_default(),
        user: d.string(&scope, "user").unwrap_or_default(),
        kill_signal: d.string(&scope, "kill_signal").unwrap_or_default(),
        kill_timeout: d.duration(&scope, "kill_timeout").unwrap_or_default(),
        leader: d.boolean(&scope, "leader").unwrap_or(false),
        shutdown_delay: d.duration(&scope, "shutdown_delay").unwrap_or_default(),
        kind: d.string(&scope, "kind").unwrap_or_default(),
        ..Task::default()
    };
    for config in scope.blocks("config") {
        task.config.extend(d.free_form(&scope.child(config)));
    }
    task.env = d.map_named(&scope, "env");
    task.meta = d.map_named(&scope, "meta");
    task.resources = last_onto(d, &scope, "resources", Default::default(), resources).unwrap_or_default();
    task.restart_policy =
        Some(last_onto(d, &scope, "restart", group_restart.clone(), restart).unwrap_or_else(|| group_restart.clone()));
    task.log_config = Some(last_onto(d, &scope, "logs", Default::default(), logs).unwrap_or_default());
    task.artifacts = scope.blocks("artifact").map(|b| artifact(d, &scope.child(b))).collect();
    task.templates = scope.blocks("template").map(|b| template(d, &scope.child(b))).collect();
    task.services = scope.blocks("service").map(|b| service(d, &scope.child(b))).collect();
    for service in &mut task.services {
        service.task_name = name.clone();
    }
    task.lifecycle = last_onto(d, &scope, "lifecycle", Default::default(), lifecycle);
    task.constraints = scope.blocks("constraint").map(|b| constraint(d, &scope.child(b))).collect();
    task.affinities = scope.blocks("affinity").map(|b| affinity(d, &scope.child(b))).collect();
    task.volume_mounts = scope.blocks("volume_mount").map(|b| volume_mount(d, &scope.child(b))).collect();
    task.dispatch_payload = last_onto(d, &scope, "dispatch_payload", Default::default(), dispatch_payload);
    Some(task)
}
