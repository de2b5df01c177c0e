//! Reconciliation: which allocations to keep, stop, update in place or create so that a
//! job's groups run the count they ask for.

use super::StateView;
use crate::structs::{now_nanos, Allocation, ClientStatus, DesiredStatus, Job, JobType, NodeStatus, TaskGroup};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A placement to make: `<job>.<group>[<index>]`, replacing `previous` when set.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub group: String,
    pub index: u32,
}

#[derive(Debug, Default)]
pub struct Changes {
    pub stops: Vec<Allocation>,
    pub in_place: Vec<Allocation>,
    pub placements: Vec<Placement>,
}

fn stop(alloc: &Allocation, description: &str, client_status: Option<ClientStatus>) -> Allocation {
    let mut stopped = alloc.clone();
    stopped.desired_status = DesiredStatus::Stop;
    stopped.desired_description = description.to_string();
    if let Some(status) = client_status {
        stopped.client_status = status;
        stopped.client_description = description.to_string();
    }
    stopped.modify_time = now_nanos();
    stopped
}

/// Whether the allocation's node is gone or down, so the allocation is lost.
fn on_lost_node(alloc: &Allocation, state: &dyn StateView) -> bool {
    state.node(&alloc.node_id).is_none_or(|n| n.status == NodeStatus::Down)
}

/// Whether an allocation still fills its slot of the group: live allocations always do,
/// finished ones do for batch jobs (they ran to the end) and for the version they ran.
fn fills_slot(alloc: &Allocation, job: &Job) -> bool {
    if !alloc.client_status.is_terminal() {
        return true;
    }
    alloc.client_status != ClientStatus::Lost
        && (matches!(job.job_type, JobType::Batch | JobType::Sysbatch) || alloc.job_version() == job.version)
}

/// Whether the group changed in a way that needs a new allocation. A count change alone
/// never does.
fn group_changed(alloc: &Allocation, group: &TaskGroup) -> bool {
    match alloc.job.as_ref().and_then(|j| j.task_group(&group.name)) {
        Some(old) => TaskGroup { count: group.count, ..old.clone() } != *group,
        None => true,
    }
}

pub fn reconcile(job: Option<&Job>, existing: &[Arc<Allocation>], state: &dyn StateView) -> Changes {
    let mut changes = Changes::default();
    let wanted: Vec<&Allocation> =
        existing.iter().map(Arc::as_ref).filter(|a| a.desired_status == DesiredStatus::Run).collect();
    let job = match job {
        Some(job) if !job.stop => job,
        _ => {
            for alloc in wanted.into_iter().filter(|a| !a.client_status.is_terminal()) {
                changes.stops.push(stop(alloc, "alloc not needed due to job update", None));
            }
            return changes;
        }
    };
    for group in &job.task_groups {
        reconcile_group(job, group, &wanted, state, &mut changes);
    }
    let groups: BTreeSet<&str> = job.task_groups.iter().map(|g| g.name.as_str()).collect();
    for alloc in wanted.iter().filter(|a| !groups.contains(a.task_group.as_str()) && !a.client_status.is_terminal()) {
        changes.stops.push(stop(alloc, "alloc not needed as task group was removed", None));
    }
    changes
}

fn reconcile_group(job: &Job, group: &TaskGroup, wanted: &[&Allocation], state: &dyn StateView, changes: &mut Changes) {
    let mut occupied = BTreeSet::new();
    let mut live: Vec<&Allocation> = Vec::new();
    for alloc in wanted.iter().copied().filter(|a| a.task_group == group.name) {
        if !alloc.client_status.is_terminal() && on_lost_node(alloc, state) {
            changes.stops.push(stop(alloc, "alloc is lost since its node is down", Some(ClientStatus::Lost)));
            continue;
        }
        if !alloc.client_status.is_terminal() {
            live.push(alloc);
        } else if fills_slot(alloc, job) {
            occupied.insert(alloc.index());
        }
    }
    live.sort_by_key(|a| (a.index(), a.create_index));
    for alloc in live {
        let index = alloc.index();
        if index >= group.count || !occupied.insert(index) {
            changes.stops.push(stop(alloc, "alloc not needed due to job update", None));
        } else if group_changed(alloc, group) {
            changes.stops.push(stop(alloc, "alloc is being updated due to job update", None));
            changes.placements.push(Placement { group: group.name.clone(), index });
        } else if alloc.job_version() != job.version {
            let mut updated = alloc.clone();
            updated.job = Some(job.clone());
            updated.modify_time = now_nanos();
            changes.in_place.push(updated);
        }
    }
    for index in (0..group.count).filter(|i| !occupied.contains(i)) {
        changes.placements.push(Placement { group: group.name.clone(), index });
    }
}
