//! Operator endpoints: the scheduler configuration
//! (`GET`/`PUT /v1/operator/scheduler/configuration`), in Nomad's request and answer
//! shapes, state backups (`GET`/`PUT /v1/operator/snapshot`) and the Raft peers
//! (`GET /v1/operator/raft/configuration`, `DELETE /v1/operator/raft/peer`).

use super::response::ApiResponse;
use crate::server::Server;
use crate::structs::SchedulerConfiguration;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigAnswer {
    scheduler_config: SchedulerConfiguration,
    index: u64,
    known_leader: bool,
    last_contact: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAnswer {
    updated: bool,
    index: u64,
}

pub fn save_snapshot(server: &Server) -> ApiResponse {
    let file = server.save_snapshot();
    ApiResponse::bytes(file, "application/octet-stream")
}

pub async fn restore_snapshot(server: &Server, body: &[u8]) -> ApiResponse {
    ApiResponse::written(server.restore_snapshot(body).await)
}

pub fn scheduler_config(server: &Server) -> ApiResponse {
    let config = server.state.snapshot().scheduler_config().clone();
    let index = config.modify_index;
    let answer = ConfigAnswer {
        scheduler_config: config,
        index,
        known_leader: server.raft_status().leader_id != 0,
        last_contact: 0,
    };
    ApiResponse::indexed(&answer, index)
}

pub async fn set_scheduler_config(server: &Server, body: &[u8], query: &BTreeMap<String, String>) -> ApiResponse {
    let config: SchedulerConfiguration = match super::jobs::decode(body) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let cas = match query.get("cas").map(|c| c.parse::<u64>()) {
        None => None,
        Some(Ok(index)) => Some(index),
        Some(Err(_)) => return ApiResponse::error(400, "query parameter cas: expected a modify index"),
    };
    match server.set_scheduler_config(config, cas).await {
        Ok((updated, index)) => ApiResponse::indexed(&UpdateAnswer { updated, index }, index),
        Err(e) => e.into(),
    }
}

/// One Raft peer, as Nomad's `RaftServer`.
#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub leader: bool,
    pub voter: bool,
    pub raft_protocol: String,
}

pub fn raft_configuration(server: &Server) -> ApiResponse {
    let status = server.raft_status();
    let servers: Vec<RaftServer> = server
        .peers()
        .into_iter()
        .filter(|(id, _)| status.voters.contains(id))
        .map(|(id, peer)| RaftServer {
            id: format!("{id:x}"),
            node: format!("{}.{}", peer.name, server.config.region),
            address: peer.addr,
            leader: id == status.leader_id,
            voter: true,
            raft_protocol: "3".into(),
        })
        .collect();
    ApiResponse::json(&serde_json::json!({ "Servers": servers, "Index": status.commit_index }))
}

/// `?id=` (as listed) or `?address=` names the peer to remove.
pub async fn remove_raft_peer(server: &Server, query: &BTreeMap<String, String>) -> ApiResponse {
    let Some(peer) = query.get("id").or_else(|| query.get("address")).filter(|p| !p.is_empty()) else {
        return ApiResponse::error(400, "name the peer to remove with ?id= or ?address=");
    };
    ApiResponse::written(server.remove_server(peer).await)
}
