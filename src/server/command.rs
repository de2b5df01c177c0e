//! The typed commands that go through the Raft log; the FSM applies them to the state store.

use crate::structs::{Allocation, Evaluation, Job, Node, NodePool, NodeStatus, SchedulerConfiguration, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Register or update a job, with the evaluation that schedules it. With
    /// `enforce_index`, only if the stored job's modify index is still that (0: no such
    /// job); otherwise nothing is written.
    JobRegister {
        job: Box<Job>,
        /// None for periodic and parameterized jobs, whose children are what gets scheduled.
        eval: Option<Evaluation>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enforce_index: Option<u64>,
    },
    /// Stop a job (or remove it with `purge`), with the evaluation that stops its allocations.
    JobDeregister { namespace: String, job_id: String, purge: bool, eval: Option<Evaluation> },
    /// Create or update evaluations (scheduler results, blocked evaluations, unblocking).
    EvalUpsert { evals: Vec<Evaluation> },
    /// Register a node or refresh its fingerprint.
    NodeRegister { node: Node },
    /// Change a node's status, with evaluations for the jobs that had allocations on it.
    NodeStatusUpdate { node_id: String, status: NodeStatus, description: String, evals: Vec<Evaluation>, time: i64 },
    /// Commit the part of a plan the applier accepted. Allocations without a job run `job`
    /// (written once per command, not once per allocation); stops keep the job they ran.
    PlanApply { job: Option<Arc<Job>>, allocs: Vec<Allocation> },
    /// Replace the whole state with a backup's (`operator snapshot restore`): the state as
    /// Raft snapshots serialize it, in base64.
    RestoreState { state: String },
    /// Stop one allocation (`alloc stop`), with the evaluation that replaces it.
    AllocStop { alloc_id: String, eval: Evaluation },
    /// Replace the scheduler configuration.
    SchedulerSetConfig { config: SchedulerConfiguration },
    /// Create or replace node pools (`node pool apply`).
    NodePoolUpsert { pools: Vec<NodePool> },
    /// Delete a node pool no node and no live job uses.
    NodePoolDelete { name: String },
    /// Status reported by a client for its allocations.
    AllocClientUpdate { updates: Vec<AllocClientUpdate>, evals: Vec<Evaluation> },
}

/// What a client reports about one of its allocations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocClientUpdate {
    #[serde(rename = "ID")]
    pub id: String,
    pub client_status: crate::structs::ClientStatus,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("commands serialize to JSON")
    }

    pub fn decode(data: &[u8]) -> Result<Command, serde_json::Error> {
        serde_json::from_slice(data)
    }
}
