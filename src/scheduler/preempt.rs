//! Preemption: making room on a node for a higher-priority allocation by evicting
//! lower-priority ones, as Nomad does by default for system jobs. Only allocations of jobs
//! at least [`PRIORITY_DELTA`] below the placing job are candidates; the lowest priority
//! goes first, and among equals the allocation that frees the most.

use super::feasible::{exhausted_dimension, node_capacity};
use super::usage::NodeUsage;
use super::StateView;
use crate::structs::{Allocation, Job, JobType, Node, Resources, SchedulerConfiguration, TaskGroup};
use std::collections::HashSet;
use std::sync::Arc;

/// How much lower a job's priority must be for its allocations to be preempted.
pub const PRIORITY_DELTA: i32 = 10;

/// Whether the scheduler configuration lets this job's type preempt.
pub fn allowed(job: &Job, config: &SchedulerConfiguration) -> bool {
    let p = &config.preemption_config;
    match job.job_type {
        JobType::System => p.system_scheduler_enabled,
        JobType::Sysbatch => p.sys_batch_scheduler_enabled,
        JobType::Batch => p.batch_scheduler_enabled,
        JobType::Service => p.service_scheduler_enabled,
    }
}

fn priority(alloc: &Allocation) -> i32 {
    alloc.job.as_ref().map_or(50, |j| j.priority)
}

/// The fewest lower-priority allocations (greedily chosen) whose eviction lets `demand`
/// and the group's static ports fit on the node; empty when no such set exists.
pub fn select(
    job: &Job,
    group: &TaskGroup,
    demand: &Resources,
    node: &Node,
    usage: &mut NodeUsage,
    state: &dyn StateView,
) -> Vec<Arc<Allocation>> {
    let mut used = usage.used(node, state);
    let wanted_ports: HashSet<u16> = group.networks.iter().flat_map(|n| &n.reserved_ports).map(|p| p.value).collect();
    let mut candidates: Vec<Arc<Allocation>> = state
        .allocs_by_node(&node.id)
        .into_iter()
        .filter(|a| !a.is_terminal() && !usage.is_stopping(&a.id) && a.job_id != job.id)
        .filter(|a| priority(a) + PRIORITY_DELTA <= job.priority)
        .collect();
    candidates.sort_by_key(|a| {
        let r = a.allocated_resources.total();
        (priority(a), std::cmp::Reverse(r.cpu + r.memory_mb))
    });
    let holds_wanted_port =
        |a: &Allocation| a.allocated_resources.shared.ports.iter().any(|p| wanted_ports.contains(&p.value));
    let mut ports_blocked: usize = state
        .allocs_by_node(&node.id)
        .iter()
        .filter(|a| !a.is_terminal() && !usage.is_stopping(&a.id) && holds_wanted_port(a))
        .count();
    let capacity = node_capacity(node);
    let mut victims = Vec::new();
    for candidate in candidates {
        if ports_blocked == 0 && exhausted_dimension(&capacity, &used, demand).is_none() {
            break;
        }
        used = used.saturating_sub(&candidate.allocated_resources.total());
        if holds_wanted_port(&candidate) {
            ports_blocked -= 1;
        }
        victims.push(candidate);
    }
    if ports_blocked == 0 && exhausted_dimension(&capacity, &used, demand).is_none() {
        victims
    } else {
        Vec::new()
    }
}
