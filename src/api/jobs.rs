//! Job write endpoints: register, deregister and parse.

use super::response::ApiResponse;
use crate::server::Server;
use crate::structs::Job;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The body of `PUT /v1/jobs`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterRequest {
    job: Job,
    /// With `EnforceIndex`, register only if the job's modify index is `JobModifyIndex`.
    #[serde(default)]
    enforce_index: bool,
    #[serde(default)]
    job_modify_index: u64,
}

/// The body of `POST /v1/jobs/parse`. The parsed job is always canonical, so Nomad's
/// `Canonicalize` flag needs no handling.
#[derive(Deserialize)]
struct ParseRequest {
    #[serde(rename = "JobHCL")]
    job_hcl: String,
}

/// Decodes a JSON body; the error names the offending field's path and position.
pub(super) fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiResponse> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiResponse::error(400, format!("request body: {inner}"))
        } else {
            ApiResponse::error(400, format!("request body: field {path}: {inner}"))
        }
    })
}

/// A 400 when the job in the body is not the one the path names.
fn id_mismatch(job: &Job, path_id: &str) -> Option<ApiResponse> {
    (job.id != path_id)
        .then(|| ApiResponse::error(400, format!("job ID {:?} does not match the path's {path_id:?}", job.id)))
}

pub async fn register(server: &Server, body: &[u8], path_id: Option<&str>) -> ApiResponse {
    let request: RegisterRequest = match decode(body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    if let Some(mismatch) = path_id.and_then(|id| id_mismatch(&request.job, id)) {
        return mismatch;
    }
    let enforce = request.enforce_index.then_some(request.job_modify_index);
    match server.register_job(request.job, enforce).await {
        Ok(response) => ApiResponse::indexed(&response, response.index),
        Err(e) => e.into(),
    }
}

/// The body of `PUT /v1/job/:id/plan`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PlanRequest {
    job: Job,
    #[serde(default)]
    diff: bool,
}

pub async fn plan(server: &Server, body: &[u8], path_id: &str) -> ApiResponse {
    let request: PlanRequest = match decode(body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    if let Some(mismatch) = id_mismatch(&request.job, path_id) {
        return mismatch;
    }
    match server.plan_job(request.job, request.diff).await {
        Ok(response) => ApiResponse::indexed(&response, response.index),
        Err(e) => e.into(),
    }
}

pub async fn stop_alloc(server: &Server, alloc_id: &str) -> ApiResponse {
    match server.stop_alloc(alloc_id).await {
        Ok(response) => ApiResponse::indexed(&response, response.index),
        Err(e) => e.into(),
    }
}

pub async fn force_periodic(server: &Server, namespace: &str, id: &str) -> ApiResponse {
    match server.force_periodic(namespace, id).await {
        Ok(response) => ApiResponse::indexed(&response, response.index),
        Err(e) => e.into(),
    }
}

/// The body of `PUT /v1/job/:id/dispatch`: the payload in base64 and meta values.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DispatchRequest {
    payload: String,
    meta: BTreeMap<String, String>,
}

pub async fn dispatch(server: &Server, namespace: &str, id: &str, body: &[u8]) -> ApiResponse {
    let request: DispatchRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DispatchRequest::default()
    } else {
        match decode(body) {
            Ok(r) => r,
            Err(response) => return response,
        }
    };
    let payload = match base64::engine::general_purpose::STANDARD.decode(request.payload.trim()) {
        Ok(payload) => payload,
        Err(e) => return ApiResponse::error(400, format!("request body: field Payload: not base64: {e}")),
    };
    match server.dispatch_job(namespace, id, &payload, request.meta).await {
        Ok(response) => ApiResponse::indexed(&response, response.index),
        Err(e) => e.into(),
    }
}

pub async fn deregister(server: &Server, namespace: &str, id: &str, query: &BTreeMap<String, String>) -> ApiResponse {
    match server.deregister_job(namespace, id, super::query::flag(query, "purge")).await {
        Ok(response) => ApiResponse::indexed(&response, response.index),
        Err(e) => e.into(),
    }
}

pub fn parse(body: &[u8]) -> ApiResponse {
    let request: ParseRequest = match decode(body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    match crate::jobspec::parse_hcl(&request.job_hcl, "JobHCL") {
        Ok(job) => ApiResponse::json(&job),
        Err(e) => ApiResponse::error(400, e.to_string()),
    }
}

/// `PUT /v1/validate/job`: the checks of registration, without registering.
pub fn validate(body: &[u8]) -> ApiResponse {
    let mut request: RegisterRequest = match decode(body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let errors = Server::prepare_job(&mut request.job).err().unwrap_or_default();
    ApiResponse::json(&serde_json::json!({
        "DriverConfigValidated": true,
        "ValidationErrors": errors,
        "Error": errors.join("\n"),
        "Warnings": "",
    }))
}
