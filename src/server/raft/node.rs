//! The Raft thread: ticks, takes proposals, messages from peers and membership changes, and
//! handles each `Ready` in raft-rs's documented order (messages, snapshot, committed
//! entries, persist entries and hard state, persisted messages, advance), applying
//! committed entries to the state machine.

use super::storage::{Peer, RedbStorage};
use super::transport::{Delivery, Hello, PeerBook, RpcTransport};
use super::{RaftConfig, RaftError, RaftStatus, StateMachine};
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType, Message, Snapshot};
use raft::{RawNode, SnapshotStatus, StateRole};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Reply = smol::channel::Sender<Result<u64, RaftError>>;

enum Op {
    Propose(Vec<u8>, Reply),
    ChangeMembership(ConfChange, Reply),
    ReadBarrier(Reply),
    Step(Message),
    Delivery(Delivery),
    Bootstrap(BTreeMap<u64, Peer>, smol::channel::Sender<Result<bool, RaftError>>),
    Shutdown,
}

struct Shared {
    status: Mutex<RaftStatus>,
    leader: AtomicBool,
}

#[derive(Clone)]
pub struct RaftHandle {
    id: u64,
    ops: mpsc::Sender<Op>,
    shared: Arc<Shared>,
    book: PeerBook,
    leadership: smol::channel::Receiver<bool>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl RaftHandle {
    /// Proposes `data`; resolves with its log index once it is committed and applied.
    pub async fn propose(&self, data: Vec<u8>) -> Result<u64, RaftError> {
        self.ask(|reply| Op::Propose(data, reply)).await
    }

    /// Hands the Raft thread an operation and waits for its answer.
    async fn ask<T>(&self, op: impl FnOnce(smol::channel::Sender<Result<T, RaftError>>) -> Op) -> Result<T, RaftError> {
        let (tx, rx) = smol::channel::bounded(1);
        self.ops.send(op(tx)).map_err(|_| RaftError::Shutdown)?;
        rx.recv().await.map_err(|_| RaftError::Shutdown)?
    }

    /// Adds a server as a voter; resolves once the change is applied.
    pub async fn add_voter(&self, id: u64, peer: &Peer) -> Result<u64, RaftError> {
        let mut change = ConfChange::default();
        change.set_change_type(ConfChangeType::AddNode);
        change.node_id = id;
        change.context = serde_json::to_vec(peer).expect("peers encode").into();
        self.change_membership(change).await
    }

    /// Removes a server from the voters; resolves once the change is applied.
    pub async fn remove_voter(&self, id: u64) -> Result<u64, RaftError> {
        let mut change = ConfChange::default();
        change.set_change_type(ConfChangeType::RemoveNode);
        change.node_id = id;
        self.change_membership(change).await
    }

    /// Resolves once this server has confirmed with a quorum that it still leads and has
    /// applied everything committed when the barrier was asked for (Raft's ReadIndex), so a
    /// read of the state after it sees every write acknowledged before it.
    pub async fn read_barrier(&self) -> Result<u64, RaftError> {
        self.ask(Op::ReadBarrier).await
    }

    async fn change_membership(&self, change: ConfChange) -> Result<u64, RaftError> {
        self.ask(|reply| Op::ChangeMembership(change, reply)).await
    }

    /// Starts a new cluster of these voters (this server among them) unless this server's
    /// store already belongs to one; `true` when it bootstrapped.
    pub async fn bootstrap(&self, voters: BTreeMap<u64, Peer>) -> Result<bool, RaftError> {
        self.ask(|reply| Op::Bootstrap(voters, reply)).await
    }

    /// Hands a message from a peer to Raft.
    pub fn step(&self, message: Message) {
        let _ = self.ops.send(Op::Step(message));
    }

    /// Reads one Raft connection from a peer until it closes.
    pub async fn receive(&self, stream: smol::net::TcpStream) -> Result<(), crate::rpc::FrameError> {
        let learn = |hello: &Hello| self.learn_peer(hello.id, hello.peer.clone());
        super::transport::receive(stream, learn, |message| self.step(message)).await
    }

    /// Records where a server is (from its hello); kept on disk with the next change of
    /// membership.
    pub fn learn_peer(&self, id: u64, peer: Peer) {
        if id == self.id {
            return;
        }
        self.book.write().expect("peer book lock poisoned").insert(id, peer);
    }

    /// The servers this one knows of, by Raft id (itself included).
    pub fn peers(&self) -> BTreeMap<u64, Peer> {
        self.book.read().expect("peer book lock poisoned").clone()
    }

    pub fn id(&self) -> u64 {
        self.id
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

struct Loop {
    node: RawNode<RedbStorage>,
    /// Kept to rebuild the node when this server bootstraps a cluster.
    raft_config: raft::Config,
    fsm: Box<dyn StateMachine>,
    cfg: RaftConfig,
    transport: RpcTransport,
    book: PeerBook,
    shared: Arc<Shared>,
    last_leader_contact: Option<Instant>,
    /// Set when a server was added: snapshot (and compact) so it is caught up from a
    /// snapshot that already counts it as a voter.
    snapshot_soon: bool,
    leadership: smol::channel::Sender<bool>,
    /// Proposals awaiting their entry: id -> (the term they were proposed in, reply). Ids
    /// restart with the process, so an entry only answers a proposal of its own term.
    pending: HashMap<u64, (u64, Reply)>,
    /// Read barriers awaiting a quorum's confirmation, by request id; then awaiting the
    /// confirmed index to be applied.
    pending_reads: HashMap<u64, Reply>,
    confirmed_reads: Vec<(u64, Reply)>,
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
    let id = storage.server_id()?;
    if bootstrap_single && storage.bootstrap(vec![id], fsm.snapshot())? {
        log::info!(target: "raft", "bootstrapped a new cluster with this server as its only voter");
    }
    let myself = Peer { addr: cfg.advertise.clone(), name: cfg.name.clone() };
    let mut peers = storage.peers()?;
    peers.insert(id, myself.clone());
    let book: PeerBook = Arc::new(std::sync::RwLock::new(peers));
    let mut applied = 0;
    if let Some(snapshot) = storage.stored_snapshot()? {
        let index = snapshot.get_metadata().index;
        fsm.restore(index, snapshot.get_data()).map_err(RaftError::Restore)?;
        applied = index;
        log::info!(target: "raft", "restored state from snapshot at index {index}");
    }
    let config = raft::Config {
        id,
        election_tick: cfg.election_tick,
        max_election_tick: cfg.election_tick * 3 / 2,
        heartbeat_tick: cfg.heartbeat_tick,
        applied,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        pre_vote: true,
        check_quorum: true,
        ..Default::default()
    };
    config.validate()?;
    let node = RawNode::new(&config, storage, &super::logger::logger())?;
    let single_voter = node.raft.prs().conf().voters().ids().iter().collect::<Vec<_>>() == vec![id];
    let shared = Arc::new(Shared {
        status: Mutex::new(RaftStatus {
            id,
            leader_id: 0,
            term: 0,
            commit_index: 0,
            applied_index: applied,
            last_snapshot_index: applied,
            voters: Vec::new(),
            last_leader_contact: None,
        }),
        leader: AtomicBool::new(false),
    });
    let (ops_tx, ops_rx) = mpsc::channel();
    let (lead_tx, lead_rx) = smol::channel::unbounded();
    let report_to = ops_tx.clone();
    let report = Arc::new(move |delivery| {
        let _ = report_to.send(Op::Delivery(delivery));
    });
    let mut raft_loop = Loop {
        node,
        raft_config: config,
        fsm,
        transport: RpcTransport::new(&Hello { id, peer: myself }, book.clone(), report),
        book: book.clone(),
        cfg,
        shared: shared.clone(),
        last_leader_contact: None,
        snapshot_soon: false,
        leadership: lead_tx,
        pending: HashMap::new(),
        pending_reads: HashMap::new(),
        confirmed_reads: Vec::new(),
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
    Ok(RaftHandle { id, ops: ops_tx, shared, book, leadership: lead_rx, thread: Arc::new(Mutex::new(Some(thread))) })
}

impl Loop {
    fn run(mut self, ops: mpsc::Receiver<Op>) {
        let mut next_tick = Instant::now() + self.cfg.tick_interval;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match ops.recv_timeout(timeout) {
                Ok(Op::Propose(data, reply)) => self.propose(data, reply),
                Ok(Op::ChangeMembership(change, reply)) => self.change_membership(change, reply),
                Ok(Op::ReadBarrier(reply)) => self.read_barrier(reply),
                Ok(Op::Step(message)) => self.step(message),
                Ok(Op::Delivery(Delivery::Unreachable(to))) => self.node.report_unreachable(to),
                Ok(Op::Delivery(Delivery::Snapshot { to, delivered })) => {
                    let status = if delivered { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                    self.node.report_snapshot(to, status);
                }
                Ok(Op::Bootstrap(voters, reply)) => {
                    let _ = reply.try_send(self.bootstrap(voters));
                }
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

    fn step(&mut self, message: Message) {
        let from_leader = matches!(
            message.get_msg_type(),
            raft::eraftpb::MessageType::MsgAppend
                | raft::eraftpb::MessageType::MsgHeartbeat
                | raft::eraftpb::MessageType::MsgSnapshot
        );
        let from = message.from;
        match self.node.step(message) {
            Ok(()) if from_leader && from == self.node.raft.leader_id => {
                self.last_leader_contact = Some(Instant::now())
            }
            Ok(()) => {}
            Err(e) => log::debug!(target: "raft", "message from server {from:x} not taken: {e}"),
        }
    }

    /// Starts a cluster of `voters` on a store that has none; the node is rebuilt over the
    /// store's new initial snapshot.
    fn bootstrap(&mut self, voters: BTreeMap<u64, Peer>) -> Result<bool, RaftError> {
        let ids: Vec<u64> = voters.keys().copied().collect();
        if !ids.contains(&self.node.raft.id) || !self.node.store().bootstrap(ids, self.fsm.snapshot())? {
            return Ok(false);
        }
        let peers = {
            let mut book = self.book.write().expect("peer book lock poisoned");
            book.extend(voters);
            book.clone()
        };
        self.node.store().set_peers(&peers)?;
        let storage = self.node.store().reopen()?;
        self.node = RawNode::new(&self.raft_config, storage, &super::logger::logger())?;
        self.applied = 1;
        self.last_snapshot = 1;
        log::info!(target: "raft", "bootstrapped a new cluster of {} voters", peers.len());
        if peers.len() == 1 {
            self.node.campaign()?;
        }
        Ok(true)
    }

    /// A new request id on the leader; elsewhere the caller is told who leads.
    fn leader_request(&mut self, reply: &Reply) -> Option<u64> {
        if self.node.raft.state != StateRole::Leader {
            let leader = Some(self.node.raft.leader_id).filter(|id| *id != 0);
            let _ = reply.try_send(Err(RaftError::NotLeader { leader }));
            return None;
        }
        self.next_proposal += 1;
        Some(self.next_proposal - 1)
    }

    fn read_barrier(&mut self, reply: Reply) {
        let Some(id) = self.leader_request(&reply) else { return };
        self.node.read_index(id.to_be_bytes().to_vec());
        self.pending_reads.insert(id, reply);
    }

    /// Read indexes confirmed by a quorum wait until they are applied.
    fn confirm_reads(&mut self, states: &[raft::ReadState]) {
        for state in states {
            let Some(id) = request_id(&state.request_ctx) else { continue };
            if let Some(reply) = self.pending_reads.remove(&id) {
                self.confirmed_reads.push((state.index, reply));
            }
        }
    }

    fn answer_reads(&mut self) {
        let applied = self.applied;
        self.confirmed_reads.retain(|(index, reply)| {
            if *index <= applied {
                let _ = reply.try_send(Ok(applied));
            }
            *index > applied
        });
    }

    fn change_membership(&mut self, change: ConfChange, reply: Reply) {
        self.submit(reply, |node, context| node.propose_conf_change(context, change));
    }

    fn propose(&mut self, data: Vec<u8>, reply: Reply) {
        self.submit(reply, |node, context| node.propose(context, data));
    }

    /// Proposes through `propose` on the leader, remembering whom to answer when the entry
    /// (tagged with a proposal id in its context) is applied.
    fn submit(
        &mut self,
        reply: Reply,
        propose: impl FnOnce(&mut RawNode<RedbStorage>, Vec<u8>) -> Result<(), raft::Error>,
    ) {
        let Some(id) = self.leader_request(&reply) else { return };
        match propose(&mut self.node, id.to_be_bytes().to_vec()) {
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
        self.confirm_reads(ready.read_states());
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
        log::info!(target: "raft", "installed a snapshot from the leader at index {index}");
        Ok(())
    }

    fn apply_entries(&mut self, entries: Vec<Entry>) -> Result<(), RaftError> {
        for entry in entries {
            match entry.get_entry_type() {
                EntryType::EntryNormal if !entry.data.is_empty() => self.fsm.apply(entry.index, &entry.data),
                EntryType::EntryNormal => {}
                EntryType::EntryConfChange => {
                    let change = ConfChange::parse_from_bytes(&entry.data)
                        .map_err(|e| RaftError::Restore(format!("membership change at {}: {e}", entry.index)))?;
                    self.apply_membership(&change)?;
                }
                EntryType::EntryConfChangeV2 => {
                    // This server never proposes joint changes; apply one if a log has it.
                    let change = raft::eraftpb::ConfChangeV2::parse_from_bytes(&entry.data)
                        .map_err(|e| RaftError::Restore(format!("membership change at {}: {e}", entry.index)))?;
                    let cs = self.node.apply_conf_change(&change)?;
                    self.node.mut_store().set_conf_state(&cs)?;
                }
            }
            self.answer(&entry);
            self.applied = entry.index;
        }
        Ok(())
    }

    /// Answers the proposal an applied entry came from, if it was this server's.
    fn answer(&mut self, entry: &Entry) {
        let Some(id) = request_id(&entry.context) else { return };
        if self.pending.get(&id).is_some_and(|(term, _)| *term == entry.term) {
            let (_, reply) = self.pending.remove(&id).expect("checked above");
            let _ = reply.try_send(Ok(entry.index));
        }
    }

    fn apply_membership(&mut self, change: &ConfChange) -> Result<(), RaftError> {
        let cs = self.node.apply_conf_change(change)?;
        self.node.mut_store().set_conf_state(&cs)?;
        let peers = {
            let mut book = self.book.write().expect("peer book lock poisoned");
            match change.get_change_type() {
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                    if let Ok(peer) = serde_json::from_slice::<Peer>(&change.context) {
                        log::info!(target: "raft", "server {} ({:x}) at {} added", peer.name, change.node_id, peer.addr);
                        book.insert(change.node_id, peer);
                    }
                    self.snapshot_soon = true;
                }
                ConfChangeType::RemoveNode => {
                    log::info!(target: "raft", "server {:x} removed", change.node_id);
                    book.remove(&change.node_id);
                }
            }
            book.clone()
        };
        self.node.store().set_peers(&peers)?;
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
        if self.applied >= self.last_snapshot + self.cfg.snapshot_threshold
            || (self.snapshot_soon && self.applied > self.last_snapshot)
        {
            self.snapshot_soon = false;
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
            last_leader_contact: if is_leader { Some(Instant::now()) } else { self.last_leader_contact },
        };
        if self.leader_since.is_some_and(|since| self.applied >= since) && !self.announced_leader {
            self.set_leader(true);
        }
        self.answer_reads();
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
        let reads = self.pending_reads.drain().map(|(_, r)| r).chain(self.confirmed_reads.drain(..).map(|(_, r)| r));
        for reply in self.pending.drain().map(|(_, (_, r))| r).chain(reads) {
            let _ = reply.try_send(Err(err()));
        }
    }
}

/// The id a proposal or read barrier was tagged with in its context (big-endian bytes).
fn request_id(context: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(context).ok().map(u64::from_be_bytes)
}
