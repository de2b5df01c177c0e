//! The system and sysbatch schedulers: one allocation of each task group on every feasible
//! node. They follow the nodes: a node that joins gets its allocations, a node that goes
//! down loses them (they are not moved), a node that no longer satisfies the job has them
//! stopped. An allocation that finished with the current job version stays done (a
//! sysbatch run is not repeated; a failed system task is not re-placed until the job changes). Where a node lacks room,
//! lower-priority allocations may be preempted (see [`super::preempt`]).

use super::feasible::{group_demand, node_is_feasible};
use super::preempt;
use super::rank::{new_allocation, room_on};
use super::reconcile::{fills_slot, group_changed, on_lost_node, reconcile, stop};
use super::usage::NodeUsage;
use super::{Outcome, StateView};
use crate::structs::{
    now_nanos, AllocMetric, Allocation, ClientStatus, DesiredStatus, Evaluation, Job, Node, NodeStatus,
};
use std::collections::HashMap;
use std::sync::Arc;

pub fn schedule_system(eval: &Evaluation, job: Option<Arc<Job>>, state: &dyn StateView, outcome: &mut Outcome) {
    let existing = state.allocs_by_job(&eval.namespace, &eval.job_id);
    let job = match job {
        Some(job) if !job.stop => job,
        _ => {
            // Stopping or purging works as for every other job type.
            for alloc in reconcile(None, &existing, state).stops {
                outcome.plan.node_update.entry(alloc.node_id.clone()).or_default().push(alloc);
            }
            return;
        }
    };
    let wanted: Vec<&Arc<Allocation>> = existing.iter().filter(|a| a.desired_status == DesiredStatus::Run).collect();
    let mut slots: HashMap<(&str, &str), Vec<&Arc<Allocation>>> = HashMap::new();
    let mut stops: Vec<Allocation> = Vec::new();
    for alloc in wanted {
        let live = !alloc.client_status.is_terminal();
        let unwanted = match job.task_group(&alloc.task_group) {
            None => Some("alloc not needed as task group was removed"),
            Some(group) => state
                .node(&alloc.node_id)
                .is_some_and(|node| still_unwanted(&job, group, &node))
                .then_some("alloc not needed as node is no longer feasible"),
        };
        if live && on_lost_node(alloc, state) {
            stops.push(stop(alloc, "alloc is lost since its node is down", Some(ClientStatus::Lost)));
        } else if let Some(reason) = unwanted {
            if live {
                stops.push(stop(alloc, reason, None));
            }
        } else {
            slots.entry((alloc.node_id.as_str(), alloc.task_group.as_str())).or_default().push(alloc);
        }
    }
    let mut usage = NodeUsage::new(&job, &existing, &stops);
    for alloc in stops {
        outcome.plan.node_update.entry(alloc.node_id.clone()).or_default().push(alloc);
    }
    for group in &job.task_groups {
        outcome.queued.insert(group.name.clone(), 0);
    }
    let mut nodes = state.nodes();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    for node in nodes.iter().filter(|n| n.status == NodeStatus::Ready && n.scheduling_eligibility != "ineligible") {
        for group in &job.task_groups {
            let mut metric = AllocMetric::default();
            if !node_is_feasible(&job, group, node, &mut metric) {
                continue;
            }
            let slot = slots.get(&(node.id.as_str(), group.name.as_str())).map_or(&[][..], |s| &s[..]);
            let mut live = slot.iter().filter(|a| !a.client_status.is_terminal());
            if let Some(current) = live.next() {
                for extra in live {
                    push_stop(outcome, &mut usage, stop(extra, "alloc not needed due to job update", None));
                }
                if group_changed(current, group) {
                    push_stop(outcome, &mut usage, stop(current, "alloc is being updated due to job update", None));
                } else {
                    if current.job_version() != job.version {
                        let updated =
                            Allocation { job: Some(job.clone()), modify_time: now_nanos(), ..(***current).clone() };
                        outcome.plan.node_allocation.entry(node.id.clone()).or_default().push(updated);
                    }
                    continue;
                }
            } else if slot.iter().any(|a| fills_slot(a, &job)) {
                continue;
            }
            place_on(eval, &job, group, node, &mut usage, state, outcome, metric);
        }
    }
}

/// Records a stop in the plan and in what the rest of the run treats as stopping.
fn push_stop(outcome: &mut Outcome, usage: &mut NodeUsage, alloc: Allocation) {
    usage.stop(&alloc);
    outcome.plan.node_update.entry(alloc.node_id.clone()).or_default().push(alloc);
}

/// A ready, eligible node that the job's group can no longer run on.
fn still_unwanted(job: &Job, group: &crate::structs::TaskGroup, node: &Node) -> bool {
    node.status == NodeStatus::Ready
        && node.scheduling_eligibility != "ineligible"
        && !node_is_feasible(job, group, node, &mut AllocMetric::default())
}

/// Places one allocation of the group on the node, preempting if allowed and needed.
#[allow(clippy::too_many_arguments)]
fn place_on(
    eval: &Evaluation,
    job: &Arc<Job>,
    group: &crate::structs::TaskGroup,
    node: &Arc<Node>,
    usage: &mut NodeUsage,
    state: &dyn StateView,
    outcome: &mut Outcome,
    mut metric: AllocMetric,
) {
    let demand = group_demand(group);
    let mut alloc = new_allocation(eval, job, group, 0, node);
    let mut room = room_on(node, group, &demand, usage, state, &mut metric);
    if room.is_none() && preempt::allowed(job, &state.scheduler_config()) {
        let victims = preempt::select(job, group, &demand, node, usage, state);
        if !victims.is_empty() {
            for victim in &victims {
                let mut evicted = stop(victim, &format!("Preempted by alloc ID {}", alloc.id), None);
                evicted.desired_status = DesiredStatus::Evict;
                evicted.preempted_by_allocation = alloc.id.clone();
                alloc.preempted_allocations.push(victim.id.clone());
                outcome.preempted_jobs.insert((victim.namespace.clone(), victim.job_id.clone()));
                push_stop(outcome, usage, evicted);
            }
            room = room_on(node, group, &demand, usage, state, &mut metric);
        }
    }
    match room {
        Some(room) => {
            usage.add(&node.id, &group.name, &demand, &room);
            room.assign_to(&mut alloc);
            outcome.plan.node_allocation.entry(node.id.clone()).or_default().push(alloc);
        }
        None => {
            *outcome.queued.entry(group.name.clone()).or_default() += 1;
            match outcome.failed_tg_allocs.get_mut(&group.name) {
                Some(failed) => failed.coalesced_failures += 1,
                None => {
                    outcome.failed_tg_allocs.insert(group.name.clone(), metric);
                }
            }
        }
    }
}
