//! Allocations: a task group placed on a node, and the state of its tasks.

use super::{Job, Resources};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the servers want an allocation to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredStatus {
    #[default]
    Run,
    Stop,
    Evict,
}

impl std::fmt::Display for DesiredStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DesiredStatus::Run => "run",
            DesiredStatus::Stop => "stop",
            DesiredStatus::Evict => "evict",
        })
    }
}

/// What the client reports an allocation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    #[default]
    Pending,
    Running,
    Complete,
    Failed,
    Lost,
    Unknown,
}

impl ClientStatus {
    /// Whether the allocation has finished for good on its node.
    pub fn is_terminal(self) -> bool {
        matches!(self, ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost)
    }
}

impl std::fmt::Display for ClientStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientStatus::Pending => "pending",
            ClientStatus::Running => "running",
            ClientStatus::Complete => "complete",
            ClientStatus::Failed => "failed",
            ClientStatus::Lost => "lost",
            ClientStatus::Unknown => "unknown",
        })
    }
}

/// A task group instance placed on a node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// `<job>.<group>[<index>]`
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The job version this allocation runs.
    pub job: Option<Arc<Job>>,
    pub task_group: String,
    pub allocated_resources: AllocatedResources,
    pub desired_status: DesiredStatus,
    pub desired_description: String,
    pub client_status: ClientStatus,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    /// The failed allocation this one replaces, and the one that replaced this one.
    #[serde(rename = "PreviousAllocation")]
    pub previous_allocation: String,
    #[serde(rename = "NextAllocation")]
    pub next_allocation: String,
    /// The reschedules that led to this allocation.
    pub reschedule_tracker: Option<RescheduleTracker>,
    /// The evaluation that will reschedule this failed allocation once its delay is over.
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    /// Lower-priority allocations this one evicted to fit, and the one that evicted this.
    pub preempted_allocations: Vec<String>,
    pub preempted_by_allocation: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub alloc_modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

impl Allocation {
    /// The index in `<job>.<group>[<index>]`.
    pub fn index(&self) -> u32 {
        self.name
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the servers or the client consider this allocation finished.
    pub fn is_terminal(&self) -> bool {
        self.desired_status != DesiredStatus::Run || self.client_status.is_terminal()
    }

    pub fn job_version(&self) -> u64 {
        self.job.as_ref().map_or(0, |j| j.version)
    }
}

/// The reschedule history carried from a failed allocation to its replacements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleTracker {
    pub events: Vec<RescheduleEvent>,
}

/// One reschedule: when, from which allocation and node, after which delay (nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleEvent {
    pub reschedule_time: i64,
    #[serde(rename = "PrevAllocID")]
    pub prev_alloc_id: String,
    #[serde(rename = "PrevNodeID")]
    pub prev_node_id: String,
    pub delay: i64,
}

/// Resources committed to an allocation on its node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedResources {
    pub tasks: BTreeMap<String, Resources>,
    pub shared: SharedResources,
    /// The CPU ids reserved for tasks that asked for whole `cores`, by task.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub task_cores: BTreeMap<String, Vec<u16>>,
}

impl AllocatedResources {
    /// Sum of what the allocation's tasks use.
    pub fn total(&self) -> Resources {
        let mut total = Resources { disk_mb: self.shared.disk_mb, ..Resources::default() };
        for r in self.tasks.values() {
            total.add(r);
        }
        total
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SharedResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: u64,
    /// The host ports the allocation holds on its node.
    pub ports: Vec<AllocatedPort>,
}

/// A port label bound to a host port (and the port inside the task, for bridge mode).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedPort {
    pub label: String,
    pub value: u16,
    pub to: i32,
    #[serde(rename = "HostIP")]
    pub host_ip: String,
}

/// A task's state within an allocation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// pending, running or dead
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    pub last_restart: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub events: Vec<TaskEvent>,
}

/// Something that happened to a task, as Nomad reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    #[serde(rename = "Type")]
    pub event_type: String,
    pub time: i64,
    pub display_message: String,
    pub message: String,
    pub exit_code: i32,
    pub signal: i32,
    pub fails_task: bool,
    pub restart_reason: String,
    pub details: BTreeMap<String, String>,
}

/// One row of `/v1/allocations`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub task_group: String,
    pub desired_status: DesiredStatus,
    pub desired_description: String,
    pub client_status: ClientStatus,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

impl From<&Allocation> for AllocListStub {
    fn from(a: &Allocation) -> Self {
        AllocListStub {
            id: a.id.clone(),
            namespace: a.namespace.clone(),
            eval_id: a.eval_id.clone(),
            name: a.name.clone(),
            node_id: a.node_id.clone(),
            node_name: a.node_name.clone(),
            job_id: a.job_id.clone(),
            job_version: a.job_version(),
            task_group: a.task_group.clone(),
            desired_status: a.desired_status,
            desired_description: a.desired_description.clone(),
            client_status: a.client_status,
            client_description: a.client_description.clone(),
            task_states: a.task_states.clone(),
            create_index: a.create_index,
            modify_index: a.modify_index,
            create_time: a.create_time,
            modify_time: a.modify_time,
        }
    }
}
