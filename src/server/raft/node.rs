//! The Raft thread: ticks, takes proposals, and handles each `Ready` in raft-rs's documented
//! order (messages, snapshot, committed entries, persist entries and hard state, persisted
//! messages, advance), applying committed entries to the state machine.

use super::storage::RedbStorage;
use super::{RaftConfig, RaftError, RaftStatus, StateMachine};
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, Message, Snapshot};
use raft::{RawNode, StateRole};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Reply = smol::channel::Sender<Result<u64, RaftError>>;

enum Op {
    Propose(Vec<u8>, Reply),
    Shutdown,
}

struct Shared {
    status: Mutex<RaftStatus>,
    leader: AtomicBool,
}

#[derive(Clone)]
pub struct RaftHandle {
    ops: mpsc::Sender<Op>,
    shared: Arc<Shared>,
    leadership: smol::channel::Receiver<bool>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl RaftHandle {
    /// Proposes `data`; resolves with its log index once it is committed and applied.
    pub async fn propose(&self, data: Vec<u8>) -> Result<u64, RaftError> {
        let (tx, rx) = smol::channel::bounded(1);
        self.ops.send(Op::Propose(data, tx)).map_err(|_| RaftError::Shutdown)?;
        rx.recv().await.map_err(|_| RaftError::Shutdown)?
    }

    pub fn is_leader(&self) -> bool {
        self.shared.leader.load(Ordering::Acquire)
    }

    /// `true` when this node becomes leader (after applying everything committed before its
    /// term), `false` when it stops being leader.
    pub fn leadership(&self) -> smol::channel::Receiver<bool> {
        self.leadership.clone()
    }

    pub fn status(&self) -> RaftStatus {
        self.shared.status.lock().expect("raft status lock poisoned").clone()
    }

    /// Stops the Raft thread after it persisted everything; pending proposals fail.
    pub fn shutdown(&self) {
        let _ = self.ops.send(Op::Shutdown);
        if let Some(thread) = self.thread.lock().expect("raft thread lock poisoned").take() {
            let _ = thread.join();
        }
    }
}

/// Where Raft messages for other servers go. A single voter never has any to send; the
/// multi-server transport plugs in here.
trait Transport {
    fn send(&self, messages: Vec<Message>);
}

struct NoPeers;

impl Transport for NoPeers {
    fn send(&self, messages: Vec<Message>) {
        if !messages.is_empty() {
            log::debug!(target: "raft", "dropping {} messages: this server has no peers", messages.len());
        }
    }
}

struct Loop {
    node: RawNode<RedbStorage>,
    fsm: Box<dyn StateMachine>,
    cfg: RaftConfig,
    transport: NoPeers,
    shared: Arc<Shared>,
    leadership: smol::channel::Sender<bool>,
    /// Proposals awaiting their entry: id -> (the term they were proposed in, reply). Ids
    /// restart with the process, so an entry only answers a proposal of its own term.
    pending: HashMap<u64, (u64, Reply)>,
    next_proposal: u64,
    applied: u64,
    last_snapshot: u64,
    /// The first index of this leader's term; leadership is announced once it is applied.
    leader_since: Option<u64>,
    announced_leader: bool,
}

pub fn start(cfg: RaftConfig, mut fsm: Box<dyn StateMachine>, bootstrap_single: bool) -> Result<RaftHandle, RaftError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(RaftError::Thread)?;
    let storage = RedbStorage::open(&cfg.data_dir.join("raft.redb"))?;
    let fresh = !storage.is_initialized()?;
    if fresh && bootstrap_single {
        storage.set_conf_state(&ConfState::from((vec![cfg.id], vec![])))?;
        log::info!(target: "raft", "bootstrapped a new cluster with this server as its only voter");
    }
    let mut applied = 0;
    if let Some(snapshot) = storage.stored_snapshot()? {
        let index = snapshot.get_metadata().index;
        fsm.restore(index, snapshot.get_data()).map_err(RaftError::Restore)?;
        applied = index;
        log::info!(target: "raft", "restored state from snapshot at index {index}");
    }
    let config = raft::Config {
        id: cfg.id,
        election_tick: cfg.election_tick,
        heartbeat_tick: cfg.heartbeat_tick,
        applied,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        pre_vote: true,
        ..Default::default()
    };
    config.validate()?;
    let node = RawNode::new(&config, storage, &super::logger::logger())?;
    let single_voter = node.raft.prs().conf().voters().ids().iter().collect::<Vec<_>>() == vec![cfg.id];
    let shared = Arc::new(Shared {
        status: Mutex::new(RaftStatus {
            id: cfg.id,
            leader_id: 0,
            term: 0,
            commit_index: 0,
            applied_index: applied,
            last_snapshot_index: applied,
            voters: Vec::new(),
        }),
        leader: AtomicBool::new(false),
    });
    let (ops_tx, ops_rx) = mpsc::channel();
    let (lead_tx, lead_rx) = smol::channel::unbounded();
    let mut raft_loop = Loop {
        node,
        fsm,
        cfg,
        transport: NoPeers,
        shared: shared.clone(),
        leadership: lead_tx,
        pending: HashMap::new(),
        next_proposal: 1,
        applied,
        last_snapshot: applied,
        leader_since: None,
        announced_leader: false,
    };
    if single_voter {
        raft_loop.node.campaign()?;
    }
    let thread = std::thread::Builder::new()
        .name("raft".into())
        .spawn(move || raft_loop.run(ops_rx))
        .map_err(RaftError::Thread)?;
    Ok(RaftHandle { ops: ops_tx, shared, leadership: lead_rx, thread: Arc::new(Mutex::new(Some(thread))) })
}

impl Loop {
    fn run(mut self, ops: mpsc::Receiver<Op>) {
        let mut next_tick = Instant::now() + self.cfg.tick_interval;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match ops.recv_timeout(timeout) {
                Ok(Op::Propose(data, reply)) => self.propose(data, reply),
                Ok(Op::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_tick {
                self.node.tick();
                next_tick += self.cfg.tick_interval;
            }
            if let Err(e) = self.handle_ready() {
                // Storage failures leave the log in an unknown state: stop rather than
                // acknowledge writes that may not be durable.
                log::error!(target: "raft", "stopping raft after a storage failure: {e}");
                break;
            }
        }
        self.fail_pending(|| RaftError::Shutdown);
        self.set_leader(false);
    }

    fn propose(&mut self, data: Vec<u8>, reply: Reply) {
        if self.node.raft.state != StateRole::Leader {
            let leader = Some(self.node.raft.leader_id).filter(|id| *id != 0);
            let _ = reply.try_send(Err(RaftError::NotLeader { leader }));
            return;
        }
        let id = self.next_proposal;
        self.next_proposal += 1;
        match self.node.propose(id.to_be_bytes().to_vec(), data) {
            Ok(()) => {
                self.pending.insert(id, (self.node.raft.term, reply));
            }
            Err(raft::Error::ProposalDropped) => {
                let _ = reply.try_send(Err(RaftError::NotLeader { leader: None }));
            }
            Err(e) => {
                let _ = reply.try_send(Err(e.into()));
            }
        }
    }

    fn handle_ready(&mut self) -> Result<(), RaftError> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut ready = self.node.ready();
        self.transport.send(ready.take_messages());
        if !ready.snapshot().is_empty() {
            self.install_snapshot(ready.snapshot().clone())?;
        }
        self.apply_entries(ready.take_committed_entries())?;
        self.node.mut_store().append_and_save(ready.entries(), ready.hs())?;
        self.transport.send(ready.take_persisted_messages());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().set_commit(commit)?;
        }
        self.transport.send(light.take_messages());
        self.apply_entries(light.take_committed_entries())?;
        self.node.advance_apply();
        self.after_apply()
    }

    fn install_snapshot(&mut self, snapshot: Snapshot) -> Result<(), RaftError> {
        let index = snapshot.get_metadata().index;
        self.fsm.restore(index, snapshot.get_data()).map_err(RaftError::Restore)?;
        self.node.mut_store().save_snapshot(&snapshot, false)?;
        self.applied = index;
        self.last_snapshot = index;
        Ok(())
    }

    fn apply_entries(&mut self, entries: Vec<Entry>) -> Result<(), RaftError> {
        for entry in entries {
            match entry.get_entry_type() {
                EntryType::EntryNormal if !entry.data.is_empty() => {
                    self.fsm.apply(entry.index, &entry.data);
                    if let Ok(id) = <[u8; 8]>::try_from(&entry.context[..]) {
                        let id = u64::from_be_bytes(id);
                        if self.pending.get(&id).is_some_and(|(term, _)| *term == entry.term) {
                            let (_, reply) = self.pending.remove(&id).expect("checked above");
                            let _ = reply.try_send(Ok(entry.index));
                        }
                    }
                }
                EntryType::EntryNormal => {}
                EntryType::EntryConfChange => {
                    let mut cc = raft::eraftpb::ConfChange::default();
                    cc.merge_from_bytes(&entry.data).map_err(|e| RaftError::Restore(e.to_string()))?;
                    let cs = self.node.apply_conf_change(&cc)?;
                    self.node.mut_store().set_conf_state(&cs)?;
                }
                EntryType::EntryConfChangeV2 => {
                    let mut cc = raft::eraftpb::ConfChangeV2::default();
                    cc.merge_from_bytes(&entry.data).map_err(|e| RaftError::Restore(e.to_string()))?;
                    let cs = self.node.apply_conf_change(&cc)?;
                    self.node.mut_store().set_conf_state(&cs)?;
                }
            }
            self.applied = entry.index;
        }
        Ok(())
    }

    /// Tracks leadership, snapshots when due, publishes the status, and only then announces
    /// a new leader, so whoever hears the announcement sees a status that agrees with it.
    fn after_apply(&mut self) -> Result<(), RaftError> {
        let is_leader = self.node.raft.state == StateRole::Leader;
        match (is_leader, self.leader_since) {
            (true, None) => self.leader_since = Some(self.node.raft.raft_log.last_index()),
            (false, Some(_)) => {
                self.leader_since = None;
                self.fail_pending(|| RaftError::NotLeader { leader: None });
                self.set_leader(false);
            }
            _ => {}
        }
        if self.applied >= self.last_snapshot + self.cfg.snapshot_threshold {
            self.take_snapshot()?;
        }
        let raft = &self.node.raft;
        *self.shared.status.lock().expect("raft status lock poisoned") = RaftStatus {
            id: raft.id,
            leader_id: raft.leader_id,
            term: raft.term,
            commit_index: raft.raft_log.committed,
            applied_index: self.applied,
            last_snapshot_index: self.last_snapshot,
            voters: raft.prs().conf().voters().ids().iter().collect(),
        };
        if self.leader_since.is_some_and(|since| self.applied >= since) && !self.announced_leader {
            self.set_leader(true);
        }
        Ok(())
    }

    fn take_snapshot(&mut self) -> Result<(), RaftError> {
        let index = self.applied;
        let term = self.node.raft.raft_log.term(index)?;
        let mut snapshot = Snapshot::default();
        snapshot.set_data(self.fsm.snapshot().into());
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(self.node.raft.prs().conf().to_conf_state());
        self.node.mut_store().save_snapshot(&snapshot, true)?;
        self.last_snapshot = index;
        log::debug!(target: "raft", "snapshot at index {index}; log compacted");
        Ok(())
    }

    fn set_leader(&mut self, leader: bool) {
        if self.announced_leader != leader {
            self.announced_leader = leader;
            self.shared.leader.store(leader, Ordering::Release);
            let _ = self.leadership.try_send(leader);
        }
    }

    fn fail_pending(&mut self, err: impl Fn() -> RaftError) {
        for (_, (_, reply)) in self.pending.drain() {
            let _ = reply.try_send(Err(err()));
        }
    }
}
