//! Pure scheduling: from an evaluation and a read-only view of the state to a plan.
//!
//! No I/O happens here. The generic scheduler serves service and batch jobs: it reconciles
//! the job's desired allocations against the existing ones, then places what is missing on
//! feasible nodes ranked by bin-packing.

pub mod constraint;
mod distinct;
pub mod feasible;
mod load;
pub mod ports;
mod preempt;
mod rank;
mod reconcile;
mod reschedule;
mod score;
mod select;
mod system;
mod usage;

use crate::structs::{
    now_nanos, trigger, AllocMetric, Allocation, EvalStatus, Evaluation, Job, JobType, Node, Plan,
    SchedulerConfiguration,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use load::NodeLoad;

/// Failed allocations due for rescheduling within this window of each other share one
/// follow-up evaluation.
const FOLLOWUP_BATCH_NANOS: i64 = 5_000_000_000;

/// The state the scheduler reads: implemented by the server's state snapshot.
pub trait StateView {
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>>;
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>>;
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>>;
    fn node(&self, id: &str) -> Option<Arc<Node>>;
    fn nodes(&self) -> Vec<Arc<Node>>;
    fn scheduler_config(&self) -> SchedulerConfiguration;
    /// What the node's live allocations hold; the state store keeps it, this default
    /// works it out.
    fn node_load(&self, node_id: &str) -> Arc<NodeLoad> {
        Arc::new(NodeLoad::of(self.allocs_by_node(node_id).iter().map(|a| a.as_ref())))
    }
}

/// What one scheduler run decided.
#[derive(Debug, Default)]
pub struct Outcome {
    pub plan: Plan,
    /// Placement failures per task group, with why nodes were ruled out.
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// Allocations that could not be placed, per task group.
    pub queued: BTreeMap<String, u64>,
    /// Delayed evaluations that will reschedule failed allocations.
    pub followup_evals: Vec<Evaluation>,
    /// Jobs whose allocations this plan preempts: they need an evaluation to go elsewhere.
    pub preempted_jobs: BTreeSet<(String, String)>,
}

/// Runs the scheduler of the evaluation's job type over one evaluation.
pub fn schedule(eval: &Evaluation, state: &dyn StateView) -> Outcome {
    let job = state.job(&eval.namespace, &eval.job_id);
    let mut outcome = Outcome {
        plan: Plan { eval_id: eval.id.clone(), priority: eval.priority, job: job.clone(), ..Plan::default() },
        ..Outcome::default()
    };
    if matches!(eval.job_type, JobType::System | JobType::Sysbatch) {
        system::schedule_system(eval, job, state, &mut outcome);
        return outcome;
    }
    let existing = state.allocs_by_job(&eval.namespace, &eval.job_id);
    let changes = reconcile::reconcile(job.as_ref(), &existing, state);
    for stop in changes.stops {
        outcome.plan.node_update.entry(stop.node_id.clone()).or_default().push(stop);
    }
    for update in changes.in_place {
        outcome.plan.node_allocation.entry(update.node_id.clone()).or_default().push(update);
    }
    plan_followups(eval, changes.followups, &mut outcome);
    if let Some(job) = job {
        for group in &job.task_groups {
            outcome.queued.insert(group.name.clone(), 0);
        }
        rank::place_all(eval, &job, &existing, changes.placements, state, &mut outcome);
    }
    outcome
}

/// One delayed evaluation per batch of failed allocations that become due together, and
/// each allocation annotated with the evaluation that will replace it.
fn plan_followups(eval: &Evaluation, mut due: Vec<(i64, Arc<Allocation>)>, outcome: &mut Outcome) {
    due.sort_by_key(|(at, _)| *at);
    let mut current: Option<Evaluation> = None;
    for (at, alloc) in due {
        if current.as_ref().is_none_or(|e| at > e.wait_until + FOLLOWUP_BATCH_NANOS) {
            outcome.followup_evals.extend(current.take());
            let followup =
                eval.successor(EvalStatus::Pending, trigger::RETRY_FAILED_ALLOC, "created for delayed rescheduling");
            current = Some(Evaluation {
                wait_until: at,
                node_id: String::new(),
                queued_allocations: BTreeMap::new(),
                ..followup
            });
        }
        let followup = current.as_ref().expect("set above");
        let annotated =
            Allocation { followup_eval_id: followup.id.clone(), modify_time: now_nanos(), ..(*alloc).clone() };
        outcome.plan.node_allocation.entry(annotated.node_id.clone()).or_default().push(annotated);
    }
    outcome.followup_evals.extend(current);
}

#[cfg(test)]
mod tests;
