//! The server: Raft-replicated state, the FSM, the eval broker, scheduler workers, the plan
//! applier and node heartbeats, behind endpoints the HTTP API and RPC call.

pub mod backup;
pub mod broker;
pub mod cluster;
pub mod command;
mod dispatch;
mod endpoints;
mod fsm;
mod heartbeat;
mod job_diff;
mod leader;
mod node_pools;
mod periodic;
mod plan_job;
mod planner;
pub mod raft;
pub mod state;
mod worker;

pub use dispatch::DispatchResponse;
pub use endpoints::{JobDeregisterResponse, JobRegisterResponse};
pub use job_diff::{DiffType, FieldDiff, JobDiff};
pub use plan_job::JobPlanResponse;

use self::broker::EvalBroker;
use self::command::Command;
use self::heartbeat::Heartbeats;
use self::planner::PlanQueue;
use self::raft::{RaftConfig, RaftError, RaftHandle, RaftNode};
use self::state::StateStore;
use crate::structs::{generate_id, now_nanos, EvalStatus, Evaluation, Job};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the Raft log and snapshots live.
    pub data_dir: PathBuf,
    pub region: String,
    pub datacenter: String,
    pub name: String,
    /// Scheduler workers planning in parallel.
    pub num_workers: usize,
    /// The TTL nodes are told to heartbeat within, and the grace the leader adds to it.
    pub heartbeat_ttl: Duration,
    pub heartbeat_grace: Duration,
    /// This server's RPC address as other servers and clients reach it.
    pub advertise: String,
    /// Servers that must meet before a new cluster is bootstrapped; 1 starts a cluster of
    /// this server alone.
    pub bootstrap_expect: u32,
    /// Other servers' RPC addresses to meet, and how often to try until this server is in
    /// a cluster.
    pub retry_join: Vec<String>,
    pub retry_interval: Duration,
    /// Scales Raft's timing (Nomad's `raft_multiplier`): 1 is the fastest failover.
    pub raft_multiplier: u32,
    /// Log entries applied between snapshots (Nomad's `raft_snapshot_threshold`).
    pub raft_snapshot_threshold: u64,
}

impl ServerConfig {
    /// A server that is a cluster of its own, with Nomad's defaults.
    pub fn single(data_dir: PathBuf, name: &str) -> ServerConfig {
        ServerConfig {
            data_dir,
            region: "global".into(),
            datacenter: "dc1".into(),
            name: name.into(),
            num_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            heartbeat_ttl: Duration::from_secs(10),
            heartbeat_grace: Duration::from_secs(10),
            advertise: "127.0.0.1:4647".into(),
            bootstrap_expect: 1,
            retry_join: Vec::new(),
            retry_interval: Duration::from_secs(15),
            raft_multiplier: 1,
            raft_snapshot_threshold: 8192,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Raft(#[from] RaftError),
    #[error("{0}")]
    InvalidJob(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("No cluster leader")]
    NoLeader,
    #[error("forwarding to the leader: {0}")]
    Forward(String),
}

impl ServerError {
    /// Whether the failure is of the moment (leadership changing, a server going away), so
    /// the same request may succeed when tried again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ServerError::Raft(RaftError::NotLeader { .. } | RaftError::Shutdown)
                | ServerError::NoLeader
                | ServerError::Forward(_)
                | ServerError::ShuttingDown
        )
    }
}

/// Proposes typed commands through Raft; resolves once they are applied.
#[derive(Clone)]
pub struct Proposer {
    raft: RaftHandle,
}

impl Proposer {
    pub async fn propose(&self, command: Command) -> Result<u64, ServerError> {
        Ok(self.raft.propose(command.encode()).await?)
    }
}

pub struct Server {
    pub config: ServerConfig,
    pub state: Arc<StateStore>,
    broker: Arc<EvalBroker>,
    raft: RaftHandle,
    proposer: Proposer,
    heartbeats: Heartbeats,
    tasks: Mutex<Vec<smol::Task<()>>>,
}

impl Server {
    /// Opens the Raft store (bootstrapping a single voter on first start), restores the
    /// state, and starts the workers, the plan applier and the leadership follower.
    pub fn start(config: ServerConfig) -> Result<Arc<Server>, ServerError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| ServerError::BadRequest(format!("data dir {}: {e}", config.data_dir.display())))?;
        let state = StateStore::new();
        let broker = Arc::new(EvalBroker::default());
        let fsm = fsm::Fsm::new(state.clone(), broker.clone());
        // Nomad's timing at raft_multiplier 1: heartbeats every 100 ms, a leader presumed
        // gone after 1 s (randomized up to 1.5 s), everything slower by the multiplier.
        let raft_config = RaftConfig {
            name: config.name.clone(),
            advertise: config.advertise.clone(),
            data_dir: config.data_dir.clone(),
            tick_interval: Duration::from_millis(100) * config.raft_multiplier.max(1),
            election_tick: 10,
            heartbeat_tick: 1,
            snapshot_threshold: config.raft_snapshot_threshold,
        };
        let raft = RaftNode::start(raft_config, Box::new(fsm), config.bootstrap_expect <= 1)?;
        let proposer = Proposer { raft: raft.clone() };
        let (plans, planner_task) = PlanQueue::start(state.clone(), proposer.clone());
        let server = Arc::new(Server {
            heartbeats: Heartbeats::new(config.heartbeat_ttl, config.heartbeat_grace),
            config,
            state: state.clone(),
            broker: broker.clone(),
            raft: raft.clone(),
            proposer: proposer.clone(),
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = vec![planner_task, smol::spawn(leader::follow_leadership(server.clone(), raft.leadership()))];
        if server.raft.status().voters.is_empty() {
            tasks.push(smol::spawn(cluster::join(server.clone())));
        }
        for _ in 0..server.config.num_workers.max(1) {
            let worker = worker::Worker {
                state: state.clone(),
                broker: broker.clone(),
                plans: plans.clone(),
                proposer: proposer.clone(),
            };
            tasks.push(smol::spawn(worker.run()));
        }
        *server.tasks.lock().expect("task lock poisoned") = tasks;
        Ok(server)
    }

    pub fn raft_status(&self) -> raft::RaftStatus {
        self.raft.status()
    }

    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// Waits until a read of this server's state sees every acknowledged write (this server
    /// must lead; see [`RaftHandle::read_barrier`]).
    pub async fn read_barrier(&self) -> Result<(), ServerError> {
        self.raft.read_barrier().await?;
        Ok(())
    }

    /// The servers this one knows, by Raft id.
    pub fn peers(&self) -> std::collections::BTreeMap<u64, raft::Peer> {
        self.raft.peers()
    }

    /// Reads one Raft connection from another server.
    pub async fn receive_raft(&self, stream: smol::net::TcpStream) {
        if let Err(e) = self.raft.receive(stream).await {
            log::debug!(target: "raft", "raft connection ended: {e}");
        }
    }

    /// Stops background work and Raft, persisting everything committed.
    pub fn shutdown(&self) {
        self.tasks.lock().expect("task lock poisoned").clear();
        self.raft.shutdown();
    }

    /// A new pending evaluation of `job`.
    pub fn new_eval(job: &Job, triggered_by: &str) -> Evaluation {
        let now = now_nanos();
        Evaluation {
            id: generate_id(),
            namespace: job.namespace.clone(),
            priority: job.priority,
            job_type: job.job_type,
            triggered_by: triggered_by.to_string(),
            job_id: job.id.clone(),
            job_modify_index: job.job_modify_index,
            status: EvalStatus::Pending,
            create_time: now,
            modify_time: now,
            ..Evaluation::default()
        }
    }
}

#[cfg(test)]
mod tests;
