//! The server: Raft-replicated state, the FSM, the eval broker, scheduler workers, the plan
//! applier and node heartbeats, behind endpoints the HTTP API and RPC call.

pub mod broker;
pub mod command;
pub mod state;
