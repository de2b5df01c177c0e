//! Client file-system endpoints, served by the agent that runs the allocation:
//! `/v1/client/fs/logs/:alloc` (a task's stdout or stderr) and `ls`, `stat`, `cat` and
//! `readat` over the allocation's directory, every path confined to it (see
//! [`super::alloc_path`]).

use super::alloc_path::{self, PathError};
use super::response::ApiResponse;
use super::router::{ApiContext, ApiRequest};
use crate::structs::AllocFileInfo;
use base64::Engine;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The most a single read returns.
const MAX_READ: u64 = 4 << 20;

/// The allocation's directory on this node, or the answer saying why there is none.
fn alloc_root(ctx: &ApiContext, alloc_id: &str) -> Result<PathBuf, ApiResponse> {
    let Some(client) = &ctx.client else {
        return Err(ApiResponse::error(400, "this agent runs no client; ask the node that runs the allocation"));
    };
    client
        .alloc_dir(alloc_id)
        .ok_or_else(|| ApiResponse::error(404, format!("allocation {alloc_id:?} is not running on this node")))
}

fn offset_param(req: &ApiRequest, name: &str) -> Result<u64, ApiResponse> {
    match req.query.get(name).map(|o| o.parse()) {
        None => Ok(0),
        Some(Ok(o)) => Ok(o),
        Some(Err(_)) => {
            Err(ApiResponse::error(400, format!("query parameter {name:?}: expected a non-negative integer")))
        }
    }
}

pub async fn logs(ctx: &ApiContext, alloc_id: &str, req: &ApiRequest) -> ApiResponse {
    let alloc_dir = match alloc_root(ctx, alloc_id) {
        Ok(dir) => dir,
        Err(response) => return response,
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
    let offset = match offset_param(req, "offset") {
        Ok(o) => o,
        Err(response) => return response,
    };
    let from_end = req.query.get("origin").is_some_and(|o| o == "end");
    let relative = format!("alloc/logs/{task}.{stream}.0");
    let path = alloc_dir.join(&relative);
    let read = smol::unblock(move || read_range(&path, offset, from_end, MAX_READ)).await;
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

/// `ls`, `stat`, `cat` and `readat` (`?path=`, and `offset`/`limit` for `readat`).
pub async fn files(ctx: &ApiContext, op: &str, alloc_id: &str, req: &ApiRequest) -> ApiResponse {
    let root = match alloc_root(ctx, alloc_id) {
        Ok(dir) => dir,
        Err(response) => return response,
    };
    let requested = req.query.get("path").cloned().unwrap_or_else(|| "/".into());
    let path = match alloc_path::resolve(&root, &requested) {
        Ok(path) => path,
        Err(e @ PathError::NotFound(_)) => return ApiResponse::error(404, e.to_string()),
        Err(e) => return ApiResponse::error(400, e.to_string()),
    };
    let (offset, limit) = match (offset_param(req, "offset"), offset_param(req, "limit")) {
        (Ok(o), Ok(l)) => (o, if l == 0 { MAX_READ } else { l.min(MAX_READ) }),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let op = op.to_string();
    let answer = smol::unblock(move || -> std::io::Result<ApiResponse> {
        Ok(match op.as_str() {
            "ls" => {
                let mut entries: Vec<AllocFileInfo> = std::fs::read_dir(&path)?
                    .filter_map(Result::ok)
                    .filter_map(|e| file_info(&e.path()).ok())
                    .collect();
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                ApiResponse::json(&entries)
            }
            "stat" => ApiResponse::json(&file_info(&path)?),
            "cat" => ApiResponse::bytes(read_range(&path, 0, false, MAX_READ)?.0, "text/plain; charset=utf-8"),
            _ => ApiResponse::bytes(read_range(&path, offset, false, limit)?.0, "application/octet-stream"),
        })
    })
    .await;
    answer.unwrap_or_else(|e| ApiResponse::error(400, format!("path {requested:?}: {e}")))
}

/// `rwx` triplets as `ls -l` shows them.
fn mode_string(is_dir: bool, mode: u32) -> String {
    let bits = ['r', 'w', 'x'];
    let mut out = String::from(if is_dir { "d" } else { "-" });
    for i in (0..9).rev() {
        out.push(if mode & (1 << i) != 0 { bits[(8 - i) % 3] } else { '-' });
    }
    if mode & 0o1000 != 0 {
        out.pop();
        out.push(if mode & 1 != 0 { 't' } else { 'T' });
    }
    out
}

/// What `ls` and `stat` say of a path. A symlink is described as a link, without following
/// it (it may point outside the allocation directory).
fn file_info(path: &Path) -> std::io::Result<AllocFileInfo> {
    let meta = std::fs::symlink_metadata(path)?;
    let mod_time = meta.modified().ok().and_then(|t| jiff::Timestamp::try_from(t).ok()).map(|t| t.to_string());
    let content_type = if meta.is_dir() || meta.file_type().is_symlink() {
        String::new()
    } else {
        let (head, _) = read_range(path, 0, false, 512).unwrap_or_default();
        if std::str::from_utf8(&head).is_ok() { "text/plain; charset=utf-8" } else { "application/octet-stream" }.into()
    };
    Ok(AllocFileInfo {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into()),
        is_dir: meta.is_dir(),
        size: meta.len(),
        file_mode: mode_string(meta.is_dir(), meta.permissions().mode()).replacen(
            '-',
            if meta.file_type().is_symlink() { "l" } else { "-" },
            1,
        ),
        mod_time: mod_time.unwrap_or_default(),
        content_type,
    })
}

/// Reads up to `limit` bytes from `offset` (from the start, or back from the end),
/// returning them and the file offset just past them.
fn read_range(path: &Path, offset: u64, from_end: bool, limit: u64) -> std::io::Result<(Vec<u8>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = if from_end { len.saturating_sub(offset) } else { offset.min(len) };
    let take = (len - start).min(limit);
    file.seek(SeekFrom::Start(start))?;
    let mut data = Vec::with_capacity(take as usize);
    file.take(take).read_to_end(&mut data)?;
    let end = start + data.len() as u64;
    Ok((data, end))
}

#[cfg(test)]
mod tests {
    use super::mode_string;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(true, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(false, 0o640), "-rw-r-----");
        assert_eq!(mode_string(true, 0o1777), "drwxrwxrwt");
    }
}
