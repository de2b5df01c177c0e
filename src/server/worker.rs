//! Scheduler workers: take evaluations from the broker, run the scheduler over a state
//! snapshot, submit the plan, and record the evaluation's outcome through Raft.

use super::broker::{EvalBroker, NackOutcome};
use super::command::Command;
use super::planner::PlanQueue;
use super::state::{Snapshot, StateStore, Table};
use super::{Proposer, Server, ServerError};
use crate::scheduler::{self, NodeLoad, Outcome, StateView};
use crate::structs::{now_nanos, trigger, Allocation, EvalStatus, Evaluation, Job, Node, SchedulerConfiguration};
use std::sync::Arc;
use std::time::Duration;

/// How often a worker re-plans an evaluation whose plan was only partly committed.
const MAX_PLAN_ATTEMPTS: usize = 5;
/// How long a worker waits for its state to catch up with an evaluation.
const STATE_WAIT: Duration = Duration::from_secs(5);

impl StateView for Snapshot {
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        Snapshot::job(self, namespace, id)
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        Snapshot::allocs_by_job(self, namespace, job_id)
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        Snapshot::allocs_by_node(self, node_id)
    }
    fn node(&self, id: &str) -> Option<Arc<Node>> {
        Snapshot::node(self, id)
    }
    fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes_by_prefix("").cloned().collect()
    }
    fn scheduler_config(&self) -> SchedulerConfiguration {
        Snapshot::scheduler_config(self).clone()
    }
    fn node_load(&self, node_id: &str) -> Arc<NodeLoad> {
        Snapshot::node_load(self, node_id)
    }
}

pub struct Worker {
    pub state: Arc<StateStore>,
    pub broker: Arc<EvalBroker>,
    pub plans: PlanQueue,
    pub proposer: Proposer,
}

impl Worker {
    pub async fn run(self) {
        loop {
            let (eval, token) = self.broker.dequeue().await;
            match self.process(&eval).await {
                Ok(()) => {
                    if let Err(e) = self.broker.ack(&eval.id, &token) {
                        log::warn!(target: "worker", "ack of eval {}: {e}", eval.id);
                    }
                }
                Err(e) => {
                    log::warn!(target: "worker", "eval {} for job {:?} failed: {e}", eval.id, eval.job_id);
                    if let Ok(NackOutcome::DeliveryLimitReached) = self.broker.nack(&eval.id, &token) {
                        self.give_up(&eval, &e).await;
                    }
                }
            }
        }
    }

    async fn process(&self, eval: &Evaluation) -> Result<(), ServerError> {
        let mut snap = self.state.wait_for(Table::Evals, eval.modify_index.saturating_sub(1), STATE_WAIT).await;
        let mut outcome = Outcome::default();
        for _ in 0..MAX_PLAN_ATTEMPTS {
            outcome = {
                let (eval, snap) = (eval.clone(), snap.clone());
                smol::unblock(move || scheduler::schedule(&eval, &snap)).await
            };
            if outcome.plan.is_empty() {
                break;
            }
            let result = self.plans.submit(outcome.plan.clone()).await?;
            if result.refresh_index == 0 {
                break;
            }
            snap = self.state.wait_for(Table::Allocs, result.refresh_index.saturating_sub(1), STATE_WAIT).await;
        }
        let mut evals = std::mem::take(&mut outcome.followup_evals);
        let preempted = std::mem::take(&mut outcome.preempted_jobs);
        evals.extend(
            preempted
                .iter()
                .filter_map(|(namespace, job_id)| snap.job(namespace, job_id))
                .map(|job| Server::new_eval(&job, trigger::PREEMPTION)),
        );
        evals.extend(self.finished_evals(eval, &snap, outcome));
        self.proposer.propose(Command::EvalUpsert { evals }).await?;
        Ok(())
    }

    /// The evaluation marked complete, plus a blocked evaluation to retry placements that
    /// failed, unless the job already has one waiting.
    fn finished_evals(&self, eval: &Evaluation, snap: &Snapshot, outcome: Outcome) -> Vec<Evaluation> {
        let mut done = eval.clone();
        done.status = EvalStatus::Complete;
        done.queued_allocations = outcome.queued;
        done.modify_time = now_nanos();
        let failed = !outcome.failed_tg_allocs.is_empty();
        done.failed_tg_allocs = outcome.failed_tg_allocs;
        let already_blocked = snap
            .evals_by_job(&eval.namespace, &eval.job_id)
            .iter()
            .any(|e| e.status == EvalStatus::Blocked && e.id != eval.id);
        if !failed || already_blocked {
            return vec![done];
        }
        let blocked = eval.blocked_successor();
        done.blocked_eval = blocked.id.clone();
        vec![done, blocked]
    }

    async fn give_up(&self, eval: &Evaluation, error: &ServerError) {
        let mut failed = eval.clone();
        failed.status = EvalStatus::Failed;
        failed.status_description = format!("evaluation reached delivery limit ({error})");
        failed.modify_time = now_nanos();
        if let Err(e) = self.proposer.propose(Command::EvalUpsert { evals: vec![failed] }).await {
            log::warn!(target: "worker", "could not mark eval {} failed: {e}", eval.id);
        }
    }
}
