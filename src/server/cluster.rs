//! Server membership: finding the other servers through `server_join { retry_join }`,
//! bootstrapping a new cluster exactly once when `bootstrap_expect` servers have met (a
//! server whose store already belongs to a cluster never bootstraps again), joining an
//! existing cluster (the leader adds the server as a voter, first removing a dead server it
//! replaces), removing servers, and finding the leader to forward requests to.

use super::raft::Peer;
use super::{Server, ServerError};
use crate::rpc::{Request, Response, RpcClient};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a request waits for a leader to be known before it fails.
const LEADER_WAIT: Duration = Duration::from_secs(5);
/// How long one discovery exchange with another server may take.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `server members` waits for a server to answer before calling it failed.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(1);

/// What servers tell each other when they meet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerHello {
    pub id: u64,
    pub peer: Peer,
    pub region: String,
    #[serde(default)]
    pub datacenter: String,
    /// Whether this server's store already belongs to a cluster.
    pub in_cluster: bool,
}

/// A server as `server members` lists it.
pub struct Member {
    pub id: u64,
    pub peer: Peer,
    /// Its hello, when it answered one just now.
    pub alive: Option<ServerHello>,
    pub voter: bool,
}

/// Where a request that needs the leader should run.
pub enum LeaderRoute {
    Here,
    /// The leader's RPC address.
    At(String),
}

impl Server {
    pub fn hello(&self) -> ServerHello {
        ServerHello {
            id: self.raft.id(),
            peer: Peer { addr: self.config.advertise.clone(), name: self.config.name.clone() },
            region: self.config.region.clone(),
            datacenter: self.config.datacenter.clone(),
            in_cluster: !self.raft.status().voters.is_empty(),
        }
    }

    /// Every server this one knows, each asked whether it is alive (this one is).
    pub async fn members(&self) -> Vec<Member> {
        let voters = self.raft.status().voters;
        let me = self.hello();
        let asks = self.raft.peers().into_iter().map(|(id, peer)| {
            let (me, voter) = (me.clone(), voters.contains(&id));
            async move {
                let alive = if id == me.id {
                    Some(me)
                } else {
                    let request = Request::ServerHello { hello: me };
                    match RpcClient::new(vec![peer.addr.clone()]).call(&request, MEMBER_TIMEOUT).await {
                        Ok(Response::ServerHello { hello }) if hello.id == id => Some(hello),
                        _ => None,
                    }
                };
                Member { id, peer, alive, voter }
            }
        });
        let mut members = Vec::new();
        for ask in asks.map(smol::spawn).collect::<Vec<_>>() {
            members.push(ask.await);
        }
        members
    }

    /// Meets another server: remembers where it is and says who this one is.
    pub(super) fn meet(&self, other: ServerHello) -> ServerHello {
        if other.region == self.config.region {
            self.raft.learn_peer(other.id, other.peer);
        }
        self.hello()
    }

    /// Finds where a leader-only request runs, waiting briefly through an election.
    pub async fn leader_route(&self) -> Result<LeaderRoute, ServerError> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            if self.is_leader() {
                return Ok(LeaderRoute::Here);
            }
            if let Some(addr) = self.leader_addr() {
                return Ok(LeaderRoute::At(addr));
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NoLeader);
            }
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    }

    /// Waits until this server's state holds every write committed so far: the leader
    /// confirms it still leads; a follower applies what it knows to be committed.
    pub async fn caught_up(&self) -> Result<(), ServerError> {
        if let LeaderRoute::Here = self.leader_route().await? {
            return self.read_barrier().await;
        }
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            let status = self.raft.status();
            if status.applied_index >= status.commit_index {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NoLeader);
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
    }

    /// The RPC address of the leader when another server leads.
    pub fn leader_addr(&self) -> Option<String> {
        let leader = self.raft.status().leader_id;
        if leader == 0 || leader == self.raft.id() {
            return None;
        }
        self.raft.peers().get(&leader).map(|p| p.addr.clone())
    }

    /// Adds a server as a voter (on the leader). A server already a voter is only
    /// remembered; a voter of the same name or address under another id is a server that
    /// was replaced, and is removed first.
    pub async fn join_server(&self, id: u64, peer: Peer) -> Result<u64, ServerError> {
        let status = self.raft.status();
        if status.voters.contains(&id) {
            self.raft.learn_peer(id, peer);
            return Ok(status.commit_index);
        }
        let stale: Vec<u64> = self
            .raft
            .peers()
            .into_iter()
            .filter(|(other, known)| *other != id && (known.name == peer.name || known.addr == peer.addr))
            .map(|(other, _)| other)
            .filter(|other| status.voters.contains(other))
            .collect();
        for old in stale {
            log::info!(target: "cluster", "removing server {old:x}: {} ({}) replaces it", peer.name, peer.addr);
            self.raft.remove_voter(old).await?;
        }
        log::info!(target: "cluster", "adding server {} ({id:x}) at {}", peer.name, peer.addr);
        Ok(self.raft.add_voter(id, &peer).await?)
    }

    /// Removes a server from the voters by id (hex, as listed) or address.
    pub async fn remove_server(&self, id_or_addr: &str) -> Result<u64, ServerError> {
        let status = self.raft.status();
        let id = self
            .raft
            .peers()
            .into_iter()
            .find(|(id, peer)| format!("{id:x}") == id_or_addr || peer.addr == id_or_addr)
            .map(|(id, _)| id)
            .filter(|id| status.voters.contains(id))
            .ok_or_else(|| ServerError::NotFound(format!("raft peer {id_or_addr:?}")))?;
        Ok(self.raft.remove_voter(id).await?)
    }
}

/// Meets the servers in `retry_join` every `retry_interval` until this server belongs to a
/// cluster: bootstraps one when `bootstrap_expect` servers (itself included) have met and
/// none of them is in a cluster yet, or asks an existing cluster to add it.
pub async fn join(server: Arc<Server>) {
    let (expect, addrs) = (server.config.bootstrap_expect as usize, server.config.retry_join.clone());
    loop {
        if !server.raft.status().voters.is_empty() {
            log::info!(target: "cluster", "this server is a member of a cluster");
            return;
        }
        let mut met = BTreeMap::from([(server.raft.id(), server.hello().peer)]);
        let mut in_cluster = Vec::new();
        for addr in &addrs {
            match RpcClient::new(vec![addr.clone()])
                .call(&Request::ServerHello { hello: server.hello() }, HELLO_TIMEOUT)
                .await
            {
                Ok(Response::ServerHello { hello }) if hello.region == server.config.region => {
                    server.raft.learn_peer(hello.id, hello.peer.clone());
                    if hello.in_cluster {
                        in_cluster.push(addr.clone());
                    }
                    met.insert(hello.id, hello.peer);
                }
                Ok(Response::ServerHello { hello }) => {
                    log::warn!(target: "cluster", "{addr} is a server of region {:?}; not joining it", hello.region)
                }
                Ok(_) => log::warn!(target: "cluster", "{addr} answered the join with something else"),
                Err(e) => log::debug!(target: "cluster", "join {addr}: {e}"),
            }
        }
        if let Some(addr) = in_cluster.first() {
            let request = Request::ServerJoin { id: server.raft.id(), peer: server.hello().peer };
            match RpcClient::new(vec![addr.clone()]).call(&request, HELLO_TIMEOUT).await {
                Ok(_) => log::info!(target: "cluster", "asked the cluster at {addr} to add this server"),
                Err(e) => log::warn!(target: "cluster", "joining the cluster at {addr}: {e}"),
            }
        } else if expect > 1 && met.len() >= expect {
            match server.raft.bootstrap(met.clone()).await {
                Ok(true) => log::info!(
                    target: "cluster",
                    "bootstrapped a cluster of {}: {}",
                    met.len(),
                    met.values().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
                Ok(false) => {}
                Err(e) => log::error!(target: "cluster", "bootstrapping: {e}"),
            }
        } else {
            log::info!(target: "cluster", "waiting for servers: {} of {expect} met", met.len());
        }
        smol::Timer::after(server.config.retry_interval).await;
    }
}
