//! The domain types shared by every layer: jobs, nodes, allocations, evaluations and plans.
//!
//! Field names serialize as Nomad's API does (PascalCase, `ID` suffixes, durations in
//! nanoseconds), so these types are also the HTTP wire format.

mod alloc;
mod duration;
mod eval;
mod job;
mod network;
mod node;
pub mod node_pool;
mod operator;
mod placement;
mod plan;
mod strategy;
mod task_extra;
mod usage;

pub use alloc::*;
pub use duration::{duration_nanos, duration_nanos_opt};
pub use eval::*;
pub use job::*;
pub use network::*;
pub use node::*;
pub use node_pool::NodePool;
pub use operator::*;
pub use placement::*;
pub use plan::*;
pub use strategy::*;
pub use task_extra::*;
pub use usage::*;

/// A new random identifier in Nomad's UUID form.
pub fn generate_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Nanoseconds since the Unix epoch, the time format of Nomad's API.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";
