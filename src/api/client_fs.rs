//! Client file-system endpoints: `/v1/client/fs/logs/:alloc` reads a task's captured
//! stdout or stderr from the allocation's log directory on this node.

use super::response::ApiResponse;
use super::router::{ApiContext, ApiRequest};
use base64::Engine;
use std::io::{Read, Seek, SeekFrom};

/// The most a single logs request returns.
const MAX_READ: u64 = 4 << 20;

pub async fn logs(ctx: &ApiContext, alloc_id: &str, req: &ApiRequest) -> ApiResponse {
    let Some(client) = &ctx.client else {
        return ApiResponse::error(400, "this agent runs no client; ask the node that runs the allocation");
    };
    let Some(task) = req.query.get("task").filter(|t| !t.is_empty()) else {
        return ApiResponse::error(400, "query parameter \"task\" is required");
    };
    if task.contains('/') || task.contains("..") {
        return ApiResponse::error(400, format!("query parameter \"task\": invalid task name {task:?}"));
    }
    let stream = req.query.get("type").map(String::as_str).unwrap_or("stdout");
    if stream != "stdout" && stream != "stderr" {
        return ApiResponse::error(400, format!("query parameter \"type\": must be stdout or stderr, got {stream:?}"));
    }
    let offset: u64 = match req.query.get("offset").map(|o| o.parse()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return ApiResponse::error(400, "query parameter \"offset\": expected a non-negative integer"),
    };
    let from_end = req.query.get("origin").is_some_and(|o| o == "end");
    let Some(alloc_dir) = client.alloc_dir(alloc_id) else {
        return ApiResponse::error(404, format!("allocation {alloc_id:?} is not running on this node"));
    };
    let relative = format!("alloc/logs/{task}.{stream}.0");
    let path = alloc_dir.join(&relative);
    let read = smol::unblock(move || read_range(&path, offset, from_end)).await;
    match read {
        Ok((data, end)) if super::query::flag(&req.query, "plain") => {
            let mut response = ApiResponse::bytes(data, "text/plain; charset=utf-8");
            response.headers.push(("X-Rove-Log-Offset".into(), end.to_string()));
            response
        }
        Ok((data, end)) => ApiResponse::json(&serde_json::json!({
            "Data": base64::engine::general_purpose::STANDARD.encode(&data),
            "File": relative,
            "Offset": end,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ApiResponse::error(404, format!("task {task:?} has no {stream} log yet"))
        }
        Err(e) => ApiResponse::error(500, format!("reading {relative}: {e}")),
    }
}

/// Reads from `offset` (from the start, or back from the end), returning the bytes and the
/// file offset just past them.
fn read_range(path: &std::path::Path, offset: u64, from_end: bool) -> std::io::Result<(Vec<u8>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = if from_end { len.saturating_sub(offset) } else { offset.min(len) };
    let take = (len - start).min(MAX_READ);
    file.seek(SeekFrom::Start(start))?;
    let mut data = Vec::with_capacity(take as usize);
    file.take(take).read_to_end(&mut data)?;
    let end = start + data.len() as u64;
    Ok((data, end))
}
