//! Pure scheduling: from an evaluation and a read-only view of the state to a plan.
//!
//! No I/O happens here. The generic scheduler serves service and batch jobs: it reconciles
//! the job's desired allocations against the existing ones, then places what is missing on
//! feasible nodes ranked by bin-packing.

pub mod constraint;
pub mod feasible;
pub mod ports;
mod rank;
mod reconcile;

use crate::structs::{AllocMetric, Allocation, Evaluation, Job, Node, Plan};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state the scheduler reads: implemented by the server's state snapshot.
pub trait StateView {
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>>;
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>>;
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>>;
    fn node(&self, id: &str) -> Option<Arc<Node>>;
    fn nodes(&self) -> Vec<Arc<Node>>;
}

/// What one scheduler run decided.
#[derive(Debug, Default)]
pub struct Outcome {
    pub plan: Plan,
    /// Placement failures per task group, with why nodes were ruled out.
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// Allocations that could not be placed, per task group.
    pub queued: BTreeMap<String, u64>,
}

/// Runs the generic (service and batch) scheduler for one evaluation.
pub fn schedule(eval: &Evaluation, state: &dyn StateView) -> Outcome {
    let job = state.job(&eval.namespace, &eval.job_id);
    let existing = state.allocs_by_job(&eval.namespace, &eval.job_id);
    let changes = reconcile::reconcile(job.as_deref(), &existing, state);
    let mut outcome = Outcome {
        plan: Plan { eval_id: eval.id.clone(), priority: eval.priority, ..Plan::default() },
        ..Outcome::default()
    };
    for stop in changes.stops {
        outcome.plan.node_update.entry(stop.node_id.clone()).or_default().push(stop);
    }
    for update in changes.in_place {
        outcome.plan.node_allocation.entry(update.node_id.clone()).or_default().push(update);
    }
    if let Some(job) = job {
        for group in &job.task_groups {
            outcome.queued.insert(group.name.clone(), 0);
        }
        rank::place_all(eval, &job, changes.placements, state, &mut outcome);
    }
    outcome
}

#[cfg(test)]
mod tests;
