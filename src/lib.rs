//! rove: a small workload orchestrator for edge fleets, compatible with Nomad's job files,
//! HTTP API and command line.

pub mod agent;
pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod jobspec;
pub mod logging;
pub mod periodic;
pub mod rpc;
pub mod scheduler;
pub mod server;
pub mod structs;
pub mod timefmt;
