//! The finite state machine: applies committed Raft commands to the state store, in order,
//! deterministically, and hands new pending evaluations to the eval broker.

use super::broker::EvalBroker;
use super::command::Command;
use super::raft::StateMachine;
use super::state::{Snapshot, StateStore, Txn};
use crate::structs::{now_nanos, Allocation, ClientStatus, DesiredStatus, Job, NodeStatus};
use base64::Engine;
use std::sync::Arc;

/// The allocations on a node that went away whose groups wait for it become unknown.
fn mark_unknown(txn: &mut Txn, node_id: &str, time: i64) {
    let waiting: Vec<Allocation> = txn
        .read()
        .allocs_by_node(node_id)
        .iter()
        .filter(|a| !a.client_status.is_terminal() && a.desired_status == DesiredStatus::Run)
        .filter(|a| {
            a.job.as_ref().and_then(|j| j.task_group(&a.task_group)).is_some_and(|g| g.disconnect_window().is_some())
        })
        .map(|a| (**a).clone())
        .collect();
    for mut alloc in waiting {
        alloc.client_status = ClientStatus::Unknown;
        alloc.client_description = "alloc is unknown since its node is disconnected".into();
        alloc.modify_time = time;
        txn.upsert_alloc(alloc);
    }
}

pub struct Fsm {
    state: Arc<StateStore>,
    broker: Arc<EvalBroker>,
}

impl Fsm {
    pub fn new(state: Arc<StateStore>, broker: Arc<EvalBroker>) -> Fsm {
        Fsm { state, broker }
    }

    fn apply_command(&self, index: u64, command: Command) {
        if let Command::RestoreState { state } = command {
            return self.restore_backup(index, &state);
        }
        let pending = self.state.write(index, |txn| {
            match command {
                Command::JobRegister { job, eval, enforce_index } => {
                    let current = txn.read().job(&job.namespace, &job.id).map_or(0, |j| j.job_modify_index);
                    if enforce_index.is_none_or(|expected| expected == current) {
                        register_job(txn, *job);
                        if let Some(eval) = eval {
                            txn.upsert_eval(eval);
                        }
                    }
                }
                Command::JobDeregister { namespace, job_id, purge, eval } => {
                    if purge {
                        txn.purge_job(&namespace, &job_id);
                    } else if let Some(job) = txn.read().job(&namespace, &job_id) {
                        let mut job = (*job).clone();
                        job.stop = true;
                        job.job_modify_index = index;
                        txn.upsert_job(job);
                    }
                    if let Some(eval) = eval {
                        txn.upsert_eval(eval);
                    }
                }
                Command::EvalUpsert { evals } => evals.into_iter().for_each(|e| txn.upsert_eval(e)),
                Command::NodeRegister { node } => txn.upsert_node(node),
                Command::NodePoolUpsert { pools } => pools.into_iter().for_each(|p| txn.upsert_node_pool(p)),
                Command::NodePoolDelete { name } => txn.delete_node_pool(&name),
                Command::NodeStatusUpdate { node_id, status, description, evals, time } => {
                    if let Some(node) = txn.read().node(&node_id) {
                        let mut node = (*node).clone();
                        node.status = status;
                        node.status_description = description;
                        node.status_updated_at = time / 1_000_000_000;
                        txn.upsert_node(node);
                    }
                    if status == NodeStatus::Disconnected {
                        mark_unknown(txn, &node_id, time);
                    }
                    evals.into_iter().for_each(|e| txn.upsert_eval(e));
                }
                Command::PlanApply { job, allocs } => {
                    let job = job.map(|job| shared_job_version(txn, job));
                    for alloc in allocs {
                        apply_planned_alloc(txn, alloc, job.as_ref());
                    }
                }
                Command::SchedulerSetConfig { config } => txn.set_scheduler_config(config),
                Command::AllocStop { alloc_id, eval } => {
                    if let Some(alloc) = txn.read().alloc(&alloc_id) {
                        let mut stopped = (*alloc).clone();
                        stopped.desired_status = DesiredStatus::Stop;
                        stopped.desired_description = "alloc was stopped by a user".into();
                        stopped.modify_time = now_nanos();
                        txn.upsert_alloc(stopped);
                        txn.upsert_eval(eval);
                    }
                }
                Command::RestoreState { .. } => unreachable!("applied above"),
                Command::AllocClientUpdate { updates, evals } => {
                    for update in updates {
                        let Some(existing) = txn.read().alloc(&update.id) else {
                            continue;
                        };
                        let mut alloc = (*existing).clone();
                        alloc.client_status = update.client_status;
                        alloc.client_description = update.client_description;
                        alloc.task_states = update.task_states;
                        alloc.modify_time = now_nanos();
                        txn.upsert_alloc(alloc);
                    }
                    evals.into_iter().for_each(|e| txn.upsert_eval(e));
                }
            }
            txn.pending_upserted_evals()
        });
        for eval in pending {
            self.broker.enqueue(eval);
        }
    }
}

impl Fsm {
    /// Replaces the state with a backup's; its pending evaluations go to the broker. A
    /// backup that does not decode (the endpoint checked it, so only a damaged log) is
    /// skipped, leaving the state as it was.
    fn restore_backup(&self, index: u64, state: &str) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(state).map_err(|e| e.to_string());
        match decoded.and_then(|bytes| Snapshot::from_bytes(&bytes).map_err(|e| e.to_string())) {
            Ok(snap) => {
                let pending = snap.pending_evals();
                self.state.restore_at(snap, index);
                log::info!(target: "fsm", "state restored from a backup at index {index}");
                for eval in pending {
                    self.broker.enqueue((*eval).clone());
                }
            }
            Err(e) => log::error!(target: "fsm", "skipping a state restore at index {index}: {e}"),
        }
    }
}

/// Stores a job, keeping its creation index and bumping its version when the spec changed.
fn register_job(txn: &mut Txn, mut job: Job) {
    let index = txn.index();
    match txn.read().job(&job.namespace, &job.id) {
        Some(existing) => {
            job.create_index = existing.create_index;
            job.version = job.version_over(&existing);
            job.status = existing.status;
        }
        None => {
            job.create_index = index;
            job.version = 0;
        }
    }
    job.job_modify_index = index;
    txn.upsert_job(job);
}

/// The state's own copy of the job when the plan placed its current version, so that the
/// job and its allocations share one copy in memory.
fn shared_job_version(txn: &Txn, job: Arc<Job>) -> Arc<Job> {
    match txn.read().job(&job.namespace, &job.id) {
        Some(current) if current.job_modify_index == job.job_modify_index && current.version == job.version => current,
        _ => job,
    }
}

/// Stores a placement or a stop. Placements without a job run the plan's `job`; a stop
/// changes only the desired status (and the client status of a lost allocation).
fn apply_planned_alloc(txn: &mut Txn, mut alloc: Allocation, job: Option<&Arc<Job>>) {
    let index = txn.index();
    match txn.read().alloc(&alloc.id) {
        Some(existing) if alloc.desired_status != DesiredStatus::Run => {
            // A stop keeps what the client last reported, unless the plan marks it lost.
            let mut stopped = (*existing).clone();
            stopped.desired_status = alloc.desired_status;
            stopped.desired_description = alloc.desired_description;
            if alloc.client_status.is_terminal() && !stopped.client_status.is_terminal() {
                stopped.client_status = alloc.client_status;
                stopped.client_description = alloc.client_description;
            }
            stopped.alloc_modify_index = index;
            stopped.modify_time = alloc.modify_time;
            txn.upsert_alloc(stopped);
        }
        _ => {
            if alloc.job.is_none() {
                alloc.job = job.cloned();
            }
            if let Some(previous) = txn.read().alloc(&alloc.previous_allocation) {
                let mut previous = (*previous).clone();
                previous.next_allocation = alloc.id.clone();
                txn.upsert_alloc(previous);
            }
            alloc.alloc_modify_index = index;
            txn.upsert_alloc(alloc);
        }
    }
}

impl StateMachine for Fsm {
    fn apply(&mut self, index: u64, data: &[u8]) {
        match Command::decode(data) {
            Ok(command) => self.apply_command(index, command),
            // Commands are encoded by this binary before proposing; an undecodable entry
            // means a newer or corrupt log. Skipping it keeps the index moving.
            Err(e) => {
                log::error!(target: "fsm", "skipping undecodable log entry at index {index}: {e}")
            }
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.state.snapshot().to_bytes()
    }

    fn restore(&mut self, _index: u64, data: &[u8]) -> Result<(), String> {
        let snap = Snapshot::from_bytes(data).map_err(|e| format!("corrupt state snapshot: {e}"))?;
        self.state.restore(snap);
        Ok(())
    }
}
