//! `job plan`: runs the scheduler over the current state as if the submitted job were
//! registered, commits nothing, and reports the job diff, what would happen to each
//! group's allocations, and why placements would fail.

use super::job_diff::{self, JobDiff};
use super::state::Snapshot;
use super::{Server, ServerError};
use crate::scheduler::{self, NodeLoad, StateView};
use crate::structs::{trigger, AllocMetric, Allocation, Evaluation, Job, Node, Plan, SchedulerConfiguration};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What would happen to one group's allocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    pub preemptions: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
}

/// The answer to `PUT /v1/job/:id/plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobPlanResponse {
    pub annotations: PlanAnnotations,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    pub job_modify_index: u64,
    pub created_evals: Vec<Evaluation>,
    pub diff: Option<JobDiff>,
    pub warnings: String,
    pub index: u64,
}

/// The state as it would be with the submitted job registered.
struct WithJob<'a> {
    snap: &'a Snapshot,
    job: Arc<Job>,
}

impl StateView for WithJob<'_> {
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        if namespace == self.job.namespace && id == self.job.id {
            Some(self.job.clone())
        } else {
            StateView::job(self.snap, namespace, id)
        }
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        StateView::allocs_by_job(self.snap, namespace, job_id)
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        StateView::allocs_by_node(self.snap, node_id)
    }
    fn node(&self, id: &str) -> Option<Arc<Node>> {
        StateView::node(self.snap, id)
    }
    fn nodes(&self) -> Vec<Arc<Node>> {
        StateView::nodes(self.snap)
    }
    fn scheduler_config(&self) -> SchedulerConfiguration {
        StateView::scheduler_config(self.snap)
    }
    fn node_load(&self, node_id: &str) -> Arc<NodeLoad> {
        StateView::node_load(self.snap, node_id)
    }
}

/// Counts, per group, what the plan does to its allocations.
fn desired_updates(plan: &Plan, snap: &Snapshot, job: &Job) -> BTreeMap<String, DesiredUpdates> {
    let mut updates: BTreeMap<String, DesiredUpdates> =
        job.task_groups.iter().map(|g| (g.name.clone(), DesiredUpdates::default())).collect();
    let stopped_names: BTreeSet<&str> = plan.node_update.values().flatten().map(|a| a.name.as_str()).collect();
    let mut replaced = BTreeSet::new();
    for alloc in plan.node_allocation.values().flatten() {
        let entry = updates.entry(alloc.task_group.clone()).or_default();
        entry.preemptions += alloc.preempted_allocations.len() as u64;
        if snap.alloc(&alloc.id).is_some() {
            entry.in_place_update += 1;
        } else if stopped_names.contains(alloc.name.as_str()) {
            entry.destructive_update += 1;
            replaced.insert(alloc.name.as_str());
        } else {
            entry.place += 1;
        }
    }
    for alloc in plan.node_update.values().flatten() {
        if !replaced.contains(alloc.name.as_str()) && alloc.job_id == job.id {
            updates.entry(alloc.task_group.clone()).or_default().stop += 1;
        }
    }
    let touched: BTreeSet<&str> =
        plan.node_update.values().chain(plan.node_allocation.values()).flatten().map(|a| a.id.as_str()).collect();
    for alloc in snap.allocs_by_job(&job.namespace, &job.id) {
        if !alloc.is_terminal() && !touched.contains(alloc.id.as_str()) {
            updates.entry(alloc.task_group.clone()).or_default().ignore += 1;
        }
    }
    updates
}

impl Server {
    pub async fn plan_job(&self, mut job: Job, with_diff: bool) -> Result<JobPlanResponse, ServerError> {
        Server::prepare_job(&mut job).map_err(|problems| ServerError::InvalidJob(problems.join("\n")))?;
        let snap = self.state.snapshot();
        let current = snap.job(&job.namespace, &job.id);
        let job_modify_index = current.as_ref().map_or(0, |c| c.job_modify_index);
        if let Some(current) = &current {
            // The version registration would give it.
            job.version = job.version_over(current);
            job.create_index = current.create_index;
            job.job_modify_index = current.job_modify_index;
        }
        let diff = with_diff.then(|| job_diff::diff(current.as_deref(), &job));
        let job = Arc::new(job);
        let mut created_evals = Vec::new();
        let (annotations, failed_tg_allocs) = if job.is_periodic() || job.is_parameterized() {
            (PlanAnnotations::default(), BTreeMap::new())
        } else {
            let eval = Server::new_eval(&job, trigger::JOB_REGISTER);
            let outcome = scheduler::schedule(&eval, &WithJob { snap: &snap, job: job.clone() });
            if !outcome.failed_tg_allocs.is_empty() {
                created_evals.push(eval.blocked_successor());
            }
            let updates = desired_updates(&outcome.plan, &snap, &job);
            (PlanAnnotations { desired_tg_updates: updates }, outcome.failed_tg_allocs)
        };
        let diff = diff.map(|mut diff| {
            for group in &mut diff.task_groups {
                if let Some(u) = annotations.desired_tg_updates.get(&group.name) {
                    let kinds = [
                        ("create", u.place),
                        ("destroy", u.stop),
                        ("in-place update", u.in_place_update),
                        ("create/destroy update", u.destructive_update),
                        ("ignore", u.ignore),
                    ];
                    group.updates = kinds.iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.to_string(), *n)).collect();
                }
            }
            diff
        });
        Ok(JobPlanResponse {
            annotations,
            failed_tg_allocs,
            job_modify_index,
            created_evals,
            diff,
            warnings: String::new(),
            index: snap.latest_index(),
        })
    }
}
