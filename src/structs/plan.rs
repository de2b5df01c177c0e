//! Plans: a scheduler's proposed changes, and what the plan applier committed of them.

use super::{Allocation, Job};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The output of one scheduler run over one evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Plan {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub priority: i32,
    /// The job version the plan places; its allocations share it.
    pub job: Option<Arc<Job>>,
    /// Allocations to stop or mark lost, by node.
    pub node_update: BTreeMap<String, Vec<Allocation>>,
    /// New or updated allocations, by node.
    pub node_allocation: BTreeMap<String, Vec<Allocation>>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.node_update.values().all(Vec::is_empty) && self.node_allocation.values().all(Vec::is_empty)
    }
}

/// What the plan applier committed, and the state index the scheduler must refresh to
/// when part of the plan no longer fit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanResult {
    pub node_update: BTreeMap<String, Vec<Allocation>>,
    pub node_allocation: BTreeMap<String, Vec<Allocation>>,
    /// Non-zero when some placements were rejected: the index to plan again from.
    pub refresh_index: u64,
    pub alloc_index: u64,
}
