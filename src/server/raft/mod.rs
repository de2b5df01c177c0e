//! Raft: the replicated log behind every state change (tikv `raft`), with the log, hard
//! state and snapshots in redb, and messages between servers over the RPC port. A
//! dedicated thread runs the Ready loop; callers propose and change membership through a
//! cloneable handle and learn when this server gains or loses leadership.

mod logger;
mod node;
mod storage;
mod transport;

pub use node::RaftHandle;
pub use storage::Peer;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The replicated state machine the Raft log drives.
pub trait StateMachine: Send + 'static {
    /// Applies one committed entry's data at `index`; must be deterministic.
    fn apply(&mut self, index: u64, data: &[u8]);
    /// Serializes the whole state.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the whole state with a snapshot's data.
    fn restore(&mut self, index: u64, data: &[u8]) -> Result<(), String>;
}

#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This server's name and RPC address as other servers should reach it.
    pub name: String,
    pub advertise: String,
    /// `raft.redb` lives here.
    pub data_dir: PathBuf,
    pub tick_interval: Duration,
    /// Ticks without a leader before an election (randomized up to half again as many).
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    /// Entries applied since the last snapshot that trigger a new snapshot and compaction.
    pub snapshot_threshold: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    pub id: u64,
    /// 0 when no leader is known.
    pub leader_id: u64,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_snapshot_index: u64,
    pub voters: Vec<u64>,
    /// When this server last heard from the leader (now, on the leader).
    pub last_leader_contact: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("not the cluster leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("raft is shutting down")]
    Shutdown,
    #[error("{0}")]
    Storage(#[from] storage::StoreError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("restoring state from snapshot: {0}")]
    Restore(String),
    #[error("starting raft thread: {0}")]
    Thread(std::io::Error),
}

pub struct RaftNode;

impl RaftNode {
    /// Opens or creates `<data_dir>/raft.redb`; a new store with `bootstrap_single` becomes a
    /// cluster of this one voter (an existing store is never bootstrapped again; without it
    /// a new store waits to be bootstrapped or added to a cluster). Restores the FSM from
    /// the last snapshot and starts the Ready loop, which replays the committed log after
    /// it.
    pub fn start(cfg: RaftConfig, fsm: Box<dyn StateMachine>, bootstrap_single: bool) -> Result<RaftHandle, RaftError> {
        node::start(cfg, fsm, bootstrap_single)
    }
}

#[cfg(test)]
mod tests;
