//! RPC on port 4647: typed requests and responses in length-prefixed JSON frames over TCP.
//!
//! Clients use it to register, heartbeat, watch and update their allocations; client-only
//! agents forward API requests to servers through it; servers find each other, forward
//! writes to the leader and exchange Raft messages over it. A connection's first byte says
//! which protocol follows (the values Nomad uses).

mod client;
mod frame;
pub mod server;

pub use client::{RpcClient, RpcError};
pub use frame::{read_frame, write_frame, FrameError, MAX_FRAME_BYTES};
pub use server::serve;

/// First byte of a request/response connection.
pub const PREFACE_RPC: u8 = 0x01;
/// First byte of a one-way connection carrying Raft messages.
pub const PREFACE_RAFT: u8 = 0x02;

use crate::server::cluster::ServerHello;
use crate::server::command::AllocClientUpdate;
use crate::server::raft::Peer;
use crate::structs::{Allocation, Node};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Register a node (or refresh its fingerprint); answered with the heartbeat TTL.
    NodeRegister { node: Box<Node> },
    /// A node is alive; answered with the heartbeat TTL.
    NodeHeartbeat { node_id: String },
    /// A node's allocations once their index passes `min_index` (a blocking query).
    NodeAllocs { node_id: String, min_index: u64, wait_ms: u64 },
    /// Client-reported allocation status.
    NodeUpdateAllocs { updates: Vec<AllocClientUpdate> },
    /// An HTTP API request run by another agent: one without a server, or a server that
    /// is not the leader (`from_server`; such a request is never forwarded again).
    HttpForward {
        method: String,
        path_and_query: String,
        body: Vec<u8>,
        #[serde(default)]
        from_server: bool,
    },
    /// A server meeting another; answered with the other's hello.
    ServerHello { hello: ServerHello },
    /// A server asking the cluster to add it as a voter.
    ServerJoin { id: u64, peer: Peer },
}

impl Response {
    /// A failure the caller should not retry.
    pub fn refusal(message: impl Into<String>) -> Response {
        Response::Error { message: message.into(), retryable: false }
    }
}

impl Request {
    /// Whether the request changes state, and so runs on the leader.
    pub fn needs_leader(&self) -> bool {
        matches!(
            self,
            Request::NodeRegister { .. }
                | Request::NodeHeartbeat { .. }
                | Request::NodeUpdateAllocs { .. }
                | Request::ServerJoin { .. }
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    Heartbeat {
        ttl_ms: u64,
        index: u64,
        /// The node was marked away and is back: it should report its allocations again.
        #[serde(default)]
        resync: bool,
    },
    Allocs {
        allocs: Vec<Allocation>,
        index: u64,
    },
    Index {
        index: u64,
    },
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    ServerHello {
        hello: ServerHello,
    },
    /// The request failed; `message` says why. A `retryable` failure is one of the moment
    /// (no leader during an election, a leader unreachable): the caller tries another
    /// server, or again later, rather than dropping what it sent.
    Error {
        message: String,
        #[serde(default)]
        retryable: bool,
    },
}
