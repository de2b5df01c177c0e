//! Server endpoints: the operations the HTTP API and RPC expose, each validated first and
//! then committed through Raft as one command.

use super::cluster::LeaderRoute;
use super::command::{AllocClientUpdate, Command};
use super::leader::{evals_for_node, unblocked_evals};
use super::raft::RaftError;
use super::state::{Snapshot, Table};
use super::{Server, ServerError};
use crate::rpc::{Request, Response, RpcClient, RpcError};
use crate::structs::{
    now_nanos, trigger, Allocation, ClientStatus, DesiredStatus, Evaluation, Job, Node, NodeStatus,
    SchedulerConfiguration,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// The answer to `PUT /v1/jobs`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobRegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub warnings: String,
    pub index: u64,
}

impl JobRegisterResponse {
    /// The answer for a registration committed at `index` with evaluation `eval_id`.
    pub fn at(eval_id: String, index: u64) -> JobRegisterResponse {
        JobRegisterResponse {
            eval_id,
            eval_create_index: index,
            job_modify_index: index,
            warnings: String::new(),
            index,
        }
    }
}

/// The answer to `DELETE /v1/job/:id`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub index: u64,
}

/// How long a request forwarded to the leader may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a blocking query may wait, as Nomad caps it.
const MAX_BLOCKING_WAIT: Duration = Duration::from_secs(600);

impl Server {
    /// Fills in a submitted job's defaults and checks it as registration does; every problem
    /// is listed.
    pub fn prepare_job(job: &mut Job) -> Result<(), Vec<String>> {
        crate::jobspec::canonicalize(job);
        let mut problems = match crate::jobspec::validate(job) {
            Ok(()) => Vec::new(),
            Err(crate::jobspec::JobspecError::Invalid { problems, .. }) => problems,
            Err(other) => vec![other.to_string()],
        };
        if let Some(periodic) = job.periodic.as_ref().filter(|p| p.enabled) {
            if let Err(e) = crate::periodic::Schedule::new(periodic) {
                problems.push(e.to_string());
            }
        }
        for group in &job.task_groups {
            for task in &group.tasks {
                let config = serde_json::Value::Object(task.config.clone());
                if let Err(e) = rove_drivers::validate_config(&task.driver, &config) {
                    problems.push(format!("group {:?} -> task {:?}: {e}", group.name, task.name));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Registers a job. With `enforce_index` (`job run -check-index`), only if the job's
    /// modify index is still that (0: the job must not exist); the check is made where the
    /// write is applied, so no registration can slip in between.
    pub async fn register_job(
        &self,
        mut job: Job,
        enforce_index: Option<u64>,
    ) -> Result<JobRegisterResponse, ServerError> {
        Server::prepare_job(&mut job).map_err(|problems| ServerError::InvalidJob(problems.join("\n")))?;
        if self.state.snapshot().node_pool(&job.node_pool).is_none() {
            return Err(ServerError::InvalidJob(format!(
                "job {:?} is in nonexistent node pool {:?}",
                job.id, job.node_pool
            )));
        }
        job.stop = false;
        job.submit_time = now_nanos();
        let eval =
            (!job.is_periodic() && !job.is_parameterized()).then(|| Server::new_eval(&job, trigger::JOB_REGISTER));
        let eval_id = eval.as_ref().map(|e| e.id.clone()).unwrap_or_default();
        let (namespace, job_id) = (job.namespace.clone(), job.id.clone());
        let index = self.proposer.propose(Command::JobRegister { job: Box::new(job), eval, enforce_index }).await?;
        if let Some(expected) = enforce_index {
            let current = self.state.snapshot().job(&namespace, &job_id).map_or(0, |j| j.job_modify_index);
            if current != index {
                let found = if expected == 0 {
                    format!("job {job_id:?} already exists with job modify index {current}")
                } else if current == 0 {
                    format!("job {job_id:?} does not exist")
                } else {
                    format!("job exists with conflicting job modify index: {current}")
                };
                return Err(ServerError::BadRequest(format!("Enforcing job modify index {expected}: {found}")));
            }
        }
        Ok(JobRegisterResponse::at(eval_id, index))
    }

    /// `alloc stop`: stops the allocation; the evaluation that comes with it places its
    /// replacement, as Nomad's scheduler does for a stopped allocation of a running job.
    pub async fn stop_alloc(&self, alloc_id: &str) -> Result<JobRegisterResponse, ServerError> {
        let snap = self.state.snapshot();
        let alloc = snap.alloc(alloc_id).ok_or_else(|| ServerError::NotFound(format!("allocation {alloc_id:?}")))?;
        let job = self.stored_job(&alloc.namespace, &alloc.job_id)?;
        let eval = Server::new_eval(&job, trigger::ALLOC_STOP);
        let eval_id = eval.id.clone();
        let index = self.proposer.propose(Command::AllocStop { alloc_id: alloc.id.clone(), eval }).await?;
        Ok(JobRegisterResponse::at(eval_id, index))
    }

    /// The stored job, or a not-found error naming it.
    pub(super) fn stored_job(&self, namespace: &str, job_id: &str) -> Result<std::sync::Arc<Job>, ServerError> {
        self.state.snapshot().job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job {job_id:?}")))
    }

    pub async fn deregister_job(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
    ) -> Result<JobDeregisterResponse, ServerError> {
        let job = self.stored_job(namespace, job_id)?;
        let eval = Server::new_eval(&job, trigger::JOB_DEREGISTER);
        let eval_id = eval.id.clone();
        let command = Command::JobDeregister {
            namespace: namespace.to_string(),
            job_id: job_id.to_string(),
            purge,
            eval: Some(eval),
        };
        let index = self.proposer.propose(command).await?;
        Ok(JobDeregisterResponse { eval_id, eval_create_index: index, job_modify_index: index, index })
    }

    /// Replaces the scheduler configuration; with `cas` (Nomad's check-and-set), only if
    /// the stored configuration's modify index is still `cas`. Returns whether it was
    /// updated and the index to read it back at.
    pub async fn set_scheduler_config(
        &self,
        config: SchedulerConfiguration,
        cas: Option<u64>,
    ) -> Result<(bool, u64), ServerError> {
        let current = self.state.snapshot();
        if let Some(expected) = cas {
            if current.scheduler_config().modify_index != expected {
                return Ok((false, current.latest_index()));
            }
        }
        let index = self.proposer.propose(Command::SchedulerSetConfig { config }).await?;
        Ok((true, index))
    }

    /// Waits (briefly, through an election) until a leader is known, and succeeds when it
    /// is this server with every earlier entry applied, so that a decision read from the
    /// state is not taken on a state still being replayed.
    async fn settled_leader(&self) -> Result<(), ServerError> {
        match self.leader_route().await? {
            LeaderRoute::Here => Ok(()),
            LeaderRoute::At(_) => Err(RaftError::NotLeader { leader: None }.into()),
        }
    }

    /// Registers a node (or refreshes it) as ready; returns the heartbeat TTL.
    pub async fn register_node(&self, mut node: Node) -> Result<Duration, ServerError> {
        if node.id.is_empty() {
            return Err(ServerError::BadRequest("node ID is required".into()));
        }
        self.settled_leader().await?;
        node.status = NodeStatus::Ready;
        node.status_updated_at = now_nanos() / 1_000_000_000;
        if node.scheduling_eligibility.is_empty() {
            node.scheduling_eligibility = "eligible".into();
        }
        let previous = self.state.snapshot().node(&node.id);
        // A node that is new or back up, or whose drivers changed, gets evaluations for its
        // jobs and for system jobs.
        let arrived = previous.as_ref().is_none_or(|old| old.status != NodeStatus::Ready);
        let drivers_changed = previous.as_ref().is_some_and(|old| !old.same_drivers(&node));
        let changed =
            arrived || drivers_changed || previous.is_some_and(|old| old.node_resources != node.node_resources);
        self.proposer.propose(Command::NodeRegister { node: node.clone() }).await?;
        if arrived || drivers_changed {
            let evals = evals_for_node(self, &node.id);
            if !evals.is_empty() {
                self.proposer.propose(Command::EvalUpsert { evals }).await?;
            }
        }
        if changed {
            self.retry_blocked().await?;
        }
        Ok(self.heartbeats.reset(&node.id))
    }

    /// A node's heartbeat: it is alive; a node marked down or disconnected comes back up.
    /// Returns the TTL and whether the node was marked away.
    pub async fn heartbeat(&self, node_id: &str) -> Result<(Duration, bool), ServerError> {
        self.settled_leader().await?;
        let node =
            self.state.snapshot().node(node_id).ok_or_else(|| ServerError::NotFound(format!("node {node_id:?}")))?;
        let away = node.status != NodeStatus::Ready;
        if away {
            log::info!(target: "heartbeat", "node {node_id} is back; marking it ready");
            let command = Command::NodeStatusUpdate {
                node_id: node_id.to_string(),
                status: NodeStatus::Ready,
                description: "node heartbeat received".into(),
                evals: evals_for_node(self, node_id),
                time: now_nanos(),
            };
            self.proposer.propose(command).await?;
            self.retry_blocked().await?;
        }
        Ok((self.heartbeats.reset(node_id), away))
    }

    /// A node's allocations, once the allocation table passes `min_index`. Answered only
    /// from a state that holds every committed write: a client drops what the answer lacks.
    pub async fn node_allocs(
        &self,
        node_id: &str,
        min_index: u64,
        wait: Duration,
    ) -> Result<(Vec<Allocation>, u64), ServerError> {
        self.caught_up().await?;
        let snap = self.state.wait_for(Table::Allocs, min_index, wait.min(MAX_BLOCKING_WAIT)).await;
        let allocs = snap.allocs_by_node(node_id).iter().map(|a| (**a).clone()).collect();
        Ok((allocs, snap.index(Table::Allocs).max(1)))
    }

    /// Applies what a client reports. Updates for allocations the servers no longer have
    /// (a purged job's) are dropped; the rest of the batch still applies.
    pub async fn update_allocs(&self, mut updates: Vec<AllocClientUpdate>) -> Result<u64, ServerError> {
        let snap = self.state.snapshot();
        updates.retain(|u| {
            let known = snap.alloc(&u.id).is_some();
            if !known {
                log::debug!(target: "client-update", "ignoring an update for unknown allocation {}", u.id);
            }
            known
        });
        if updates.is_empty() {
            return Ok(snap.latest_index());
        }
        let freed = updates.iter().any(|u| u.client_status.is_terminal());
        let evals = failure_evals(&snap, &updates);
        let index = self.proposer.propose(Command::AllocClientUpdate { updates, evals }).await?;
        if freed {
            self.retry_blocked().await?;
        }
        Ok(index)
    }

    /// Capacity changed: let blocked evaluations try again.
    async fn retry_blocked(&self) -> Result<(), ServerError> {
        let evals = unblocked_evals(self);
        if !evals.is_empty() {
            self.proposer.propose(Command::EvalUpsert { evals }).await?;
        }
        Ok(())
    }

    /// Answers the RPC requests of nodes and other servers; those that change state run on
    /// the leader, forwarded there from a follower.
    pub async fn handle_rpc(&self, request: Request) -> Response {
        if request.needs_leader() {
            match self.leader_route().await {
                Ok(LeaderRoute::Here) => {}
                Ok(LeaderRoute::At(addr)) => return forward_rpc(&addr, &request).await,
                Err(e) => return e.into(),
            }
        }
        let result = match request {
            Request::NodeRegister { node } => self.register_node(*node).await.map(|ttl| Response::Heartbeat {
                ttl_ms: ttl.as_millis() as u64,
                index: 0,
                resync: false,
            }),
            Request::NodeHeartbeat { node_id } => self
                .heartbeat(&node_id)
                .await
                .map(|(ttl, away)| Response::Heartbeat { ttl_ms: ttl.as_millis() as u64, index: 0, resync: away }),
            Request::NodeAllocs { node_id, min_index, wait_ms } => {
                let wait = Duration::from_millis(wait_ms);
                self.node_allocs(&node_id, min_index, wait)
                    .await
                    .map(|(allocs, index)| Response::Allocs { allocs, index })
            }
            Request::NodeUpdateAllocs { updates } => {
                self.update_allocs(updates).await.map(|index| Response::Index { index })
            }
            Request::HttpForward { .. } => {
                Err(ServerError::BadRequest("HTTP forwarding is handled by the agent".into()))
            }
            Request::ServerHello { hello } => Ok(Response::ServerHello { hello: self.meet(hello) }),
            Request::ServerJoin { id, peer } => self.join_server(id, peer).await.map(|index| Response::Index { index }),
        };
        result.unwrap_or_else(Response::from)
    }
}

impl From<ServerError> for Response {
    fn from(e: ServerError) -> Response {
        Response::Error { message: e.to_string(), retryable: e.is_transient() }
    }
}

/// Runs a request on the leader and relays its answer.
async fn forward_rpc(leader: &str, request: &Request) -> Response {
    match RpcClient::new(vec![leader.to_string()]).call(request, FORWARD_TIMEOUT).await {
        Ok(response) => response,
        Err(RpcError::Remote(message)) => Response::refusal(message),
        Err(e) => ServerError::Forward(e.to_string()).into(),
    }
}

/// One evaluation per job with a newly failed allocation, so its reschedule policy applies,
/// and per job with an allocation back from a disconnected node (which may now have a
/// replacement too many).
fn failure_evals(snap: &Snapshot, updates: &[AllocClientUpdate]) -> Vec<Evaluation> {
    let mut jobs = BTreeSet::new();
    updates
        .iter()
        .filter_map(|u| {
            let alloc = snap.alloc(&u.id)?;
            let failed = u.client_status == ClientStatus::Failed && alloc.client_status != ClientStatus::Failed;
            let back = alloc.client_status == ClientStatus::Unknown && !u.client_status.is_terminal();
            let trigger = match (failed, back) {
                (true, _) => trigger::RETRY_FAILED_ALLOC,
                (false, true) => trigger::RECONNECT,
                _ => return None,
            };
            (alloc.desired_status == DesiredStatus::Run).then_some((alloc, trigger))
        })
        .filter(|(a, _)| jobs.insert((a.namespace.clone(), a.job_id.clone())))
        .filter_map(|(a, trigger)| Some((snap.job(&a.namespace, &a.job_id)?, trigger)))
        .filter(|(job, _)| !job.stop)
        .map(|(job, trigger)| Server::new_eval(&job, trigger))
        .collect()
}
