//! The plan applier: the leader's single queue through which every plan is committed.
//!
//! Workers plan in parallel from snapshots that may be stale; the applier re-checks each
//! node of a plan against the latest state, commits what still fits through Raft and tells
//! the worker which state index to refresh to for the rest. No node is ever oversubscribed.

use super::command::Command;
use super::state::{Snapshot, StateStore};
use super::{Proposer, ServerError};
use crate::scheduler::feasible::{exhausted_dimension, node_capacity};
use crate::structs::{Allocation, NodeStatus, Plan, PlanResult, Resources};
use std::sync::Arc;

type Submission = (Plan, smol::channel::Sender<Result<PlanResult, ServerError>>);

/// The handle workers submit plans through.
#[derive(Clone)]
pub struct PlanQueue {
    tx: smol::channel::Sender<Submission>,
}

impl PlanQueue {
    /// Starts the applier task; it lives as long as the returned task handle.
    pub fn start(state: Arc<StateStore>, proposer: Proposer) -> (PlanQueue, smol::Task<()>) {
        let (tx, rx) = smol::channel::bounded::<Submission>(64);
        let task = smol::spawn(async move {
            while let Ok((plan, reply)) = rx.recv().await {
                let result = apply(&state, &proposer, plan).await;
                let _ = reply.send(result).await;
            }
        });
        (PlanQueue { tx }, task)
    }

    pub async fn submit(&self, plan: Plan) -> Result<PlanResult, ServerError> {
        let (reply_tx, reply_rx) = smol::channel::bounded(1);
        self.tx.send((plan, reply_tx)).await.map_err(|_| ServerError::ShuttingDown)?;
        reply_rx.recv().await.map_err(|_| ServerError::ShuttingDown)?
    }
}

/// Whether a node can take the plan's allocations on top of what it runs now: resources
/// and host ports. The node's load comes from the state; allocations the plan stops or
/// replaces (in-place updates of live ones) are taken out of it first.
fn node_fits(snap: &Snapshot, node_id: &str, plan: &Plan, placing: &[Allocation]) -> bool {
    let Some(node) = snap.node(node_id) else {
        return false;
    };
    if node.status != NodeStatus::Ready {
        return false;
    }
    let mut load = (*snap.node_load(node_id)).clone();
    let stopping = plan.node_update.get(node_id).into_iter().flatten().filter_map(|a| snap.alloc(&a.id));
    let replacing = placing.iter().filter_map(|a| snap.alloc(&a.id));
    for current in stopping.chain(replacing).filter(|a| a.node_id == node_id) {
        load.remove(&current);
    }
    let mut demand = Resources::default();
    for alloc in placing.iter().filter(|a| !a.is_terminal()) {
        demand.add(&alloc.allocated_resources.total());
        if !alloc.allocated_resources.shared.ports.iter().all(|p| load.ports.insert(p.value)) {
            return false;
        }
        if !alloc.allocated_resources.task_cores.values().flatten().all(|c| load.cores.insert(*c)) {
            return false;
        }
    }
    exhausted_dimension(&node_capacity(&node), &load.used, &demand).is_none()
}

async fn apply(state: &StateStore, proposer: &Proposer, plan: Plan) -> Result<PlanResult, ServerError> {
    let snap = state.snapshot();
    let mut result = PlanResult { node_update: plan.node_update.clone(), ..PlanResult::default() };
    for (node_id, placing) in &plan.node_allocation {
        if node_fits(&snap, node_id, &plan, placing) {
            result.node_allocation.insert(node_id.clone(), placing.clone());
        } else {
            log::debug!(target: "planner", "plan for eval {} no longer fits node {node_id}", plan.eval_id);
            result.refresh_index = snap.latest_index();
        }
    }
    // The plan's job goes into the log once: allocations running it (and stops, which keep
    // their job) leave it out; others, such as a failed allocation of an older version
    // annotated for rescheduling, keep theirs.
    let runs_plan_job = |a: &Allocation| match (&a.job, &plan.job) {
        (Some(own), Some(planned)) => Arc::ptr_eq(own, planned),
        _ => false,
    };
    let stops = result.node_update.values().flatten().map(|a| Allocation { job: None, ..a.clone() });
    let placed = result.node_allocation.values().flatten().map(|a| {
        let job = if runs_plan_job(a) { None } else { a.job.clone() };
        Allocation { job, ..a.clone() }
    });
    let allocs: Vec<Allocation> = stops.chain(placed).collect();
    if !allocs.is_empty() {
        result.alloc_index = proposer.propose(Command::PlanApply { job: plan.job.clone(), allocs }).await?;
    }
    Ok(result)
}
