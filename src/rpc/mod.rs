//! RPC on port 4647: typed requests and responses in length-prefixed JSON frames over TCP.
//!
//! Clients use it to register, heartbeat, watch and update their allocations; client-only
//! agents forward API requests to servers through it.

mod client;
mod frame;
pub mod server;

pub use client::{RpcClient, RpcError};
pub use frame::{read_frame, write_frame, FrameError, MAX_FRAME_BYTES};
pub use server::serve;

use crate::server::command::AllocClientUpdate;
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
    /// An HTTP API request received by an agent without a server, run by a server.
    HttpForward { method: String, path_and_query: String, body: Vec<u8> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    Heartbeat {
        ttl_ms: u64,
        index: u64,
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
    /// The request failed; `message` says why.
    Error {
        message: String,
    },
}
