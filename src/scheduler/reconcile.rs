//! Reconciliation: which allocations to keep, stop, update in place or create so that a
//! job's groups run the count they ask for.

use super::reschedule::{self, Decision};
use super::StateView;
use crate::structs::{
    now_nanos, Allocation, ClientStatus, DesiredStatus, Job, JobType, NodeStatus, ReschedulePolicy, RescheduleTracker,
    TaskGroup,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A placement to make: `<job>.<group>[<index>]`, rescheduling `previous` when set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    pub group: String,
    pub index: u32,
    pub previous: Option<Arc<Allocation>>,
    /// The reschedule history the new allocation carries.
    pub tracker: Option<RescheduleTracker>,
    /// Nodes where earlier attempts failed, ranked last.
    pub avoid_nodes: BTreeSet<String>,
}

impl Placement {
    fn fresh(group: &TaskGroup, index: u32) -> Placement {
        Placement { group: group.name.clone(), index, ..Placement::default() }
    }
}

#[derive(Debug, Default)]
pub struct Changes {
    pub stops: Vec<Allocation>,
    pub in_place: Vec<Allocation>,
    pub placements: Vec<Placement>,
    /// Failed allocations to reschedule later, with the time each becomes due.
    pub followups: Vec<(i64, Arc<Allocation>)>,
}

pub(super) fn stop(alloc: &Allocation, description: &str, client_status: Option<ClientStatus>) -> Allocation {
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

/// Whether the allocation's node is gone or down, or disconnected while the allocation's
/// group does not wait for it, so the allocation is lost.
pub(super) fn on_lost_node(alloc: &Allocation, state: &dyn StateView) -> bool {
    state.node(&alloc.node_id).is_none_or(|n| match n.status {
        NodeStatus::Down => true,
        NodeStatus::Disconnected => !waits_for_node(alloc),
        _ => false,
    })
}

/// Whether the allocation's group waits for a disconnected node (`disconnect`).
fn waits_for_node(alloc: &Allocation) -> bool {
    alloc.job.as_ref().and_then(|j| j.task_group(&alloc.task_group)).is_some_and(|g| g.disconnect_window().is_some())
}

/// Whether an allocation still fills its slot of the group: live allocations always do,
/// finished ones do for batch jobs (they ran to the end) and for the version they ran.
pub(super) fn fills_slot(alloc: &Allocation, job: &Job) -> bool {
    if !alloc.client_status.is_terminal() {
        return true;
    }
    alloc.client_status != ClientStatus::Lost
        && (matches!(job.job_type, JobType::Batch | JobType::Sysbatch) || alloc.job_version() == job.version)
}

/// Whether the group changed in a way that needs a new allocation. A count change alone
/// never does.
pub(super) fn group_changed(alloc: &Allocation, group: &TaskGroup) -> bool {
    match alloc.job.as_ref().and_then(|j| j.task_group(&group.name)) {
        Some(old) => TaskGroup { count: group.count, ..old.clone() } != *group,
        None => true,
    }
}

pub fn reconcile(job: Option<&Arc<Job>>, existing: &[Arc<Allocation>], state: &dyn StateView) -> Changes {
    let mut changes = Changes::default();
    let wanted: Vec<&Arc<Allocation>> = existing.iter().filter(|a| a.desired_status == DesiredStatus::Run).collect();
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

/// Whether a failed allocation of this job is replaced by its reschedule policy.
fn reschedulable(alloc: &Allocation, job: &Job) -> bool {
    alloc.client_status == ClientStatus::Failed
        && matches!(job.job_type, JobType::Service | JobType::Batch)
        && alloc.job_version() == job.version
        && alloc.next_allocation.is_empty()
}

fn reconcile_group(
    job: &Arc<Job>,
    group: &TaskGroup,
    wanted: &[&Arc<Allocation>],
    state: &dyn StateView,
    changes: &mut Changes,
) {
    let mut occupied = BTreeSet::new();
    let mut live: Vec<&Allocation> = Vec::new();
    let policy = group.reschedule_policy.clone().unwrap_or_else(|| ReschedulePolicy::for_job_type(job.job_type));
    let now = now_nanos();
    let mine: Vec<&Arc<Allocation>> = wanted.iter().copied().filter(|a| a.task_group == group.name).collect();
    // A slot with a live allocation has been refilled: its failed one is not rescheduled.
    let refilled: BTreeSet<u32> = mine.iter().filter(|a| !a.client_status.is_terminal()).map(|a| a.index()).collect();
    for alloc in mine {
        if !alloc.client_status.is_terminal() && on_lost_node(alloc, state) {
            changes.stops.push(stop(alloc, "alloc is lost since its node is down", Some(ClientStatus::Lost)));
            continue;
        }
        if alloc.client_status == ClientStatus::Unknown && group.replaces_disconnected() {
            // Away with its node: it keeps running there, and its slot is filled elsewhere
            // until the node comes back.
            continue;
        }
        if !alloc.client_status.is_terminal() {
            live.push(alloc);
        } else if reschedulable(alloc, job) && !refilled.contains(&alloc.index()) {
            match reschedule::decide(alloc, &policy, now) {
                Decision::Exhausted => {
                    occupied.insert(alloc.index());
                }
                Decision::Later(at) => {
                    occupied.insert(alloc.index());
                    if alloc.followup_eval_id.is_empty() {
                        changes.followups.push((at, alloc.clone()));
                    }
                }
                Decision::Now(tracker) if occupied.insert(alloc.index()) => {
                    changes.stops.push(stop(alloc, "alloc was rescheduled because it failed", None));
                    let avoid_nodes = tracker.events.iter().map(|e| e.prev_node_id.clone()).collect();
                    changes.placements.push(Placement {
                        previous: Some(alloc.clone()),
                        tracker: Some(tracker),
                        avoid_nodes,
                        ..Placement::fresh(group, alloc.index())
                    });
                }
                Decision::Now(_) => {}
            }
        } else if fills_slot(alloc, job) {
            occupied.insert(alloc.index());
        }
    }
    // Two live allocations in one slot: a reconnected one and its replacement. The older
    // stays unless the group keeps replacements.
    if group.keeps_replacements() {
        live.sort_by_key(|a| (a.index(), std::cmp::Reverse((a.create_index, a.create_time))));
    } else {
        live.sort_by_key(|a| (a.index(), a.create_index, a.create_time));
    }
    for alloc in live {
        let index = alloc.index();
        if index >= group.count || !occupied.insert(index) {
            changes.stops.push(stop(alloc, "alloc not needed due to job update", None));
        } else if group_changed(alloc, group) {
            changes.stops.push(stop(alloc, "alloc is being updated due to job update", None));
            changes.placements.push(Placement::fresh(group, index));
        } else if alloc.job_version() != job.version {
            let mut updated = alloc.clone();
            updated.job = Some(job.clone());
            updated.modify_time = now_nanos();
            changes.in_place.push(updated);
        }
    }
    for index in (0..group.count).filter(|i| !occupied.contains(i)) {
        changes.placements.push(Placement::fresh(group, index));
    }
}
