//! The HTTP API on port 4646: Nomad's `/v1` paths, JSON field names, headers and blocking
//! queries, served with hyper on smol.
//!
//! Requests are first turned into a plain [`ApiRequest`] so the same router serves local
//! requests and requests a client-only agent forwards to a server over RPC.

mod agent;
mod alloc_path;
mod client_alloc;
mod client_fs;
mod file_info;
mod file_stream;
mod http;
mod jobs;
mod node_pools;
mod operator;
mod query;
mod reads;
mod response;
mod router;

pub use file_info::AllocFileInfo;
pub use http::serve;
pub use operator::RaftServer;
pub use response::ApiResponse;
pub use router::{encode as percent_encode, route, ApiContext, ApiRequest, MemberInfo};
