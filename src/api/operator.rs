//! Operator endpoints: the scheduler configuration
//! (`GET`/`PUT /v1/operator/scheduler/configuration`), in Nomad's request and answer
//! shapes, and state backups (`GET`/`PUT /v1/operator/snapshot`).

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
    match server.restore_snapshot(body).await {
        Ok(index) => ApiResponse::indexed(&serde_json::json!({ "Index": index }), index),
        Err(e) => e.into(),
    }
}

pub fn scheduler_config(server: &Server) -> ApiResponse {
    let config = server.state.snapshot().scheduler_config().clone();
    let index = config.modify_index;
    let answer = ConfigAnswer { scheduler_config: config, index, known_leader: server.is_leader(), last_contact: 0 };
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
