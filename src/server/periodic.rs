//! The periodic dispatcher, a leader duty: launches a child job of every periodic job when
//! its schedule comes due (`<parent>/periodic-<unix seconds>`), skips a launch while an
//! earlier child still runs if the job prohibits overlap, and after a change of leader runs
//! a launch that was missed meanwhile once. `job periodic force` launches one at once.

use super::command::Command;
use super::state::{Snapshot, Table};
use super::{JobRegisterResponse, Server, ServerError};
use crate::periodic::{child_id, Schedule};
use crate::structs::{trigger, Job, JobStatus};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest the dispatcher sleeps without looking at the jobs again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The children of a periodic job, with their launch times.
fn children<'a>(snap: &'a Snapshot, parent: &'a Job) -> impl Iterator<Item = (i64, &'a Arc<Job>)> + 'a {
    let prefix = format!("{}/periodic-", parent.id);
    snap.jobs(&parent.namespace, "")
        .filter(move |j| j.parent_id == parent.id)
        .filter_map(move |j| j.id.strip_prefix(&prefix).and_then(|t| t.parse().ok()).map(|t| (t, j)))
}

pub async fn dispatch(server: Arc<Server>) {
    let mut last_launch: HashMap<(String, String), Timestamp> = HashMap::new();
    loop {
        let snap = server.state.snapshot();
        let now = Timestamp::now();
        let mut wake = now + MAX_SLEEP;
        for parent in snap.jobs("*", "").filter(|j| j.is_periodic() && !j.stop) {
            let Some(Ok(schedule)) = parent.periodic.as_ref().map(Schedule::new) else {
                continue;
            };
            let key = (parent.namespace.clone(), parent.id.clone());
            let since = *last_launch.entry(key.clone()).or_insert_with(|| {
                let latest = children(&snap, parent).map(|(t, _)| t).max();
                latest.and_then(|t| Timestamp::from_second(t).ok()).unwrap_or(now)
            });
            match schedule.next_after(since) {
                Some(due) if due <= now => {
                    last_launch.insert(key, now);
                    wake = now;
                    let overlap = parent.periodic.as_ref().is_some_and(|p| p.prohibit_overlap);
                    if overlap && children(&snap, parent).any(|(_, c)| c.status != JobStatus::Dead) {
                        log::info!(target: "periodic", "skipping a launch of {:?}: its last run is still going", parent.id);
                        continue;
                    }
                    if let Err(e) = server.launch_child(parent, due).await {
                        log::warn!(target: "periodic", "launching {:?}: {e}", parent.id);
                    }
                }
                Some(due) => wake = wake.min(due),
                None => {}
            }
        }
        let sleep = Duration::try_from(wake - Timestamp::now()).unwrap_or(Duration::ZERO).min(MAX_SLEEP);
        if !sleep.is_zero() {
            // Wakes early when jobs change: a new periodic job may be due sooner.
            server.state.wait_for(Table::Jobs, snap.index(Table::Jobs).max(1), sleep).await;
        }
    }
}

impl Server {
    /// Registers the child a periodic job launches at `at`, with its evaluation.
    async fn launch_child(&self, parent: &Job, at: Timestamp) -> Result<JobRegisterResponse, ServerError> {
        let mut child = parent.clone();
        child.id = child_id(&parent.id, at);
        child.name = child.id.clone();
        child.parent_id = parent.id.clone();
        child.periodic = None;
        child.status = JobStatus::Pending;
        child.submit_time = crate::structs::now_nanos();
        let eval = Server::new_eval(&child, trigger::PERIODIC_JOB);
        let eval_id = eval.id.clone();
        let id = child.id.clone();
        log::info!(target: "periodic", "launching {id:?}");
        let command = Command::JobRegister { job: Box::new(child), eval: Some(eval), enforce_index: Some(0) };
        let index = self.proposer.propose(command).await?;
        // Registered only if no child of that name existed: never launch one twice.
        if self.state.snapshot().job(&parent.namespace, &id).is_none_or(|j| j.job_modify_index != index) {
            return Err(ServerError::BadRequest(format!("job {id:?} was already launched")));
        }
        Ok(JobRegisterResponse::at(eval_id, index))
    }

    /// `job periodic force`: launches a child of the periodic job now.
    pub async fn force_periodic(&self, namespace: &str, job_id: &str) -> Result<JobRegisterResponse, ServerError> {
        let parent = self.stored_job(namespace, job_id)?;
        if !parent.is_periodic() {
            return Err(ServerError::BadRequest(format!("job {job_id:?} is not periodic")));
        }
        // A launch this second (scheduled or forced) already has the natural name: take the
        // next free second's.
        let snap = self.state.snapshot();
        let mut at = Timestamp::now();
        while snap.job(namespace, &child_id(job_id, at)).is_some() {
            at += jiff::SignedDuration::from_secs(1);
        }
        self.launch_child(&parent, at).await
    }
}
