//! Node pool endpoints: `GET`/`PUT /v1/node/pools`, `GET`/`DELETE /v1/node/pool/:name`,
//! and the nodes and jobs of a pool (`/v1/node/pool/:name/nodes|jobs`).

use super::query::QueryOptions;
use super::reads::{job_stub, node_stub};
use super::response::ApiResponse;
use crate::server::state::Table;
use crate::server::Server;
use crate::structs::{node_pool, JobListStub, NodeListStub, NodePool};

pub async fn list(server: &Server, q: &QueryOptions) -> ApiResponse {
    let snap = server.state.wait_for(Table::NodePools, q.min_index, q.wait).await;
    ApiResponse::indexed(&snap.node_pools(&q.prefix), snap.index(Table::NodePools).max(1))
}

pub async fn get(server: &Server, q: &QueryOptions, name: &str) -> ApiResponse {
    let snap = server.state.wait_for(Table::NodePools, q.min_index, q.wait).await;
    match snap.node_pool(name) {
        Some(pool) => ApiResponse::indexed(&pool, snap.index(Table::NodePools)),
        None => ApiResponse::error(404, format!("node pool {name:?} not found")),
    }
}

pub async fn upsert(server: &Server, body: &[u8]) -> ApiResponse {
    let pool: NodePool = match serde_json::from_slice(body) {
        Ok(pool) => pool,
        Err(e) => return ApiResponse::error(400, format!("node pool body: {e}")),
    };
    ApiResponse::written(server.upsert_node_pool(pool).await)
}

pub async fn delete(server: &Server, name: &str) -> ApiResponse {
    ApiResponse::written(server.delete_node_pool(name).await)
}

/// The nodes of a pool; every node for `all`.
pub async fn nodes(server: &Server, q: &QueryOptions, name: &str) -> ApiResponse {
    let snap = server.state.wait_for(Table::Nodes, q.min_index, q.wait).await;
    if snap.node_pool(name).is_none() {
        return ApiResponse::error(404, format!("node pool {name:?} not found"));
    }
    let stubs: Vec<NodeListStub> = snap
        .nodes_by_prefix("")
        .filter(|n| name == node_pool::ALL || n.node_pool == name)
        .map(|n| node_stub(n))
        .collect();
    ApiResponse::indexed(&stubs, snap.index(Table::Nodes))
}

/// The jobs of a pool, in every namespace.
pub async fn jobs(server: &Server, q: &QueryOptions, name: &str) -> ApiResponse {
    let snap = server.state.wait_for(Table::Jobs, q.min_index, q.wait).await;
    if snap.node_pool(name).is_none() {
        return ApiResponse::error(404, format!("node pool {name:?} not found"));
    }
    let stubs: Vec<JobListStub> =
        snap.jobs("*", "").filter(|j| j.node_pool == name).map(|job| job_stub(&snap, job)).collect();
    ApiResponse::indexed(&stubs, snap.index(Table::Jobs))
}
