//! rove: a small workload orchestrator for edge fleets, compatible with Nomad's job files,
//! HTTP API and command line.

pub mod scheduler;
pub mod server;
pub mod structs;
