//! Evaluations: requests to reconcile a job's desired and actual state.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalStatus {
    #[default]
    Pending,
    Blocked,
    Complete,
    Failed,
    Canceled,
}

impl EvalStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, EvalStatus::Complete | EvalStatus::Failed | EvalStatus::Canceled)
    }
}

impl std::fmt::Display for EvalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EvalStatus::Pending => "pending",
            EvalStatus::Blocked => "blocked",
            EvalStatus::Complete => "complete",
            EvalStatus::Failed => "failed",
            EvalStatus::Canceled => "canceled",
        })
    }
}

/// Why an evaluation was created (Nomad's `TriggeredBy` values).
pub mod trigger {
    pub const JOB_REGISTER: &str = "job-register";
    pub const JOB_DEREGISTER: &str = "job-deregister";
    pub const NODE_UPDATE: &str = "node-update";
    pub const ALLOC_STOP: &str = "alloc-stop";
    pub const QUEUED_ALLOCS: &str = "queued-allocs";
    pub const RETRY_FAILED_ALLOC: &str = "alloc-failure";
    pub const RECONNECT: &str = "reconnect";
    pub const MAX_DISCONNECT_TIMEOUT: &str = "max-disconnect-timeout";
    pub const PREEMPTION: &str = "preemption";
    pub const PERIODIC_JOB: &str = "periodic-job";
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    pub priority: i32,
    #[serde(rename = "Type")]
    pub job_type: super::JobType,
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_modify_index: u64,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub status: EvalStatus,
    pub status_description: String,
    /// Placement failures per task group.
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// Allocations that could not be placed yet, per task group.
    pub queued_allocations: BTreeMap<String, u64>,
    /// The blocked evaluation created to retry failed placements.
    pub blocked_eval: String,
    pub previous_eval: String,
    /// A delayed evaluation is not scheduled before this time (nanoseconds since the epoch;
    /// 0: at once), e.g. to reschedule a failed allocation after its delay.
    pub wait_until: i64,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

impl Evaluation {
    /// A new evaluation that carries on from this one (same job, type and priority), with
    /// its own ID, times and status, and none of this one's results.
    pub fn successor(&self, status: EvalStatus, triggered_by: &str, description: &str) -> Evaluation {
        let now = super::now_nanos();
        Evaluation {
            id: super::generate_id(),
            status,
            status_description: description.to_string(),
            triggered_by: triggered_by.to_string(),
            previous_eval: self.id.clone(),
            failed_tg_allocs: BTreeMap::new(),
            blocked_eval: String::new(),
            create_time: now,
            modify_time: now,
            ..self.clone()
        }
    }

    /// The blocked evaluation that retries the placements this one could not make.
    pub fn blocked_successor(&self) -> Evaluation {
        self.successor(EvalStatus::Blocked, trigger::QUEUED_ALLOCS, "created to place remaining allocations")
    }
}

/// Why placements went where they did, or failed: counts of nodes filtered and exhausted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocMetric {
    pub nodes_evaluated: u64,
    pub nodes_filtered: u64,
    pub nodes_in_pool: u64,
    pub nodes_available: BTreeMap<String, u64>,
    pub class_filtered: BTreeMap<String, u64>,
    pub constraint_filtered: BTreeMap<String, u64>,
    pub nodes_exhausted: u64,
    pub class_exhausted: BTreeMap<String, u64>,
    pub dimension_exhausted: BTreeMap<String, u64>,
    pub allocation_time: i64,
    pub coalesced_failures: u64,
}
