//! Client file-system endpoints, served by the agent that runs the allocation:
//! `/v1/client/fs/logs|ls|stat|cat|readat|stream/:alloc`. Every path goes through
//! [`alloc_path`](super::alloc_path) and so stays inside the allocation directory.

use super::alloc_path::{self, AllocPath, PathError};
use super::file_info::{self, AllocFileInfo};
use super::file_stream::{self, Options, Source};
use super::response::ApiResponse;
use super::router::{ApiContext, ApiRequest};
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How much of a file `stat` reads to guess its content type.
const SNIFF_BYTES: u64 = 512;

#[derive(Debug, thiserror::Error)]
enum FsError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("query parameter {0:?}: {1}")]
    Query(&'static str, String),
    #[error("{0}")]
    BadTarget(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<FsError> for ApiResponse {
    fn from(e: FsError) -> ApiResponse {
        let status = match &e {
            FsError::Path(p) => p.status(),
            FsError::Query(..) | FsError::BadTarget(_) => 400,
            FsError::NotFound(_) => 404,
            FsError::Io(_) => 500,
        };
        ApiResponse::error(status, e.to_string())
    }
}

/// Serves `GET /v1/client/fs/<op>/<alloc_id>`.
pub async fn handle(ctx: &ApiContext, op: &str, alloc_id: &str, req: &ApiRequest) -> ApiResponse {
    let Some(client) = &ctx.client else {
        return ApiResponse::error(400, "this agent runs no client; ask the node that runs the allocation");
    };
    let Some(root) = client.alloc_dir(alloc_id) else {
        return ApiResponse::error(404, format!("allocation {alloc_id:?} is not running on this node"));
    };
    let (op, query) = (op.to_string(), req.query.clone());
    smol::unblock(move || {
        let q = Query(&query);
        let result = match op.as_str() {
            "logs" => logs(&root, &q),
            "ls" => ls(&root, &q),
            "stat" => stat(&root, &q),
            "cat" => cat(&root, &q),
            "readat" => readat(&root, &q),
            "stream" => stream(&root, &q),
            _ => return ApiResponse::error(404, format!("no such endpoint: GET /v1/client/fs/{op}")),
        };
        result.unwrap_or_else(ApiResponse::from)
    })
    .await
}

struct Query<'a>(&'a BTreeMap<String, String>);

impl Query<'_> {
    fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn number(&self, name: &'static str) -> Result<Option<u64>, FsError> {
        self.str(name)
            .map(|v| v.parse().map_err(|_| FsError::Query(name, format!("expected a non-negative integer, got {v:?}"))))
            .transpose()
    }

    fn flag(&self, name: &str) -> bool {
        super::query::flag(self.0, name)
    }

    /// `path`, the allocation directory itself when absent.
    fn path(&self, root: &Path) -> Result<AllocPath, FsError> {
        Ok(alloc_path::resolve(root, self.str("path").unwrap_or("/"))?)
    }

    /// `offset` and `origin` (`start` or `end`), with `follow` and `plain`.
    fn stream_options(&self) -> Result<Options, FsError> {
        let from_end = match self.str("origin").unwrap_or("start") {
            "start" => false,
            "end" => true,
            other => return Err(FsError::Query("origin", format!("must be start or end, got {other:?}"))),
        };
        Ok(Options {
            offset: self.number("offset")?.unwrap_or(0),
            from_end,
            follow: self.flag("follow"),
            plain: self.flag("plain"),
        })
    }
}

fn logs(root: &Path, q: &Query) -> Result<ApiResponse, FsError> {
    let task = q.str("task").ok_or_else(|| FsError::Query("task", "is required".into()))?;
    if task.contains('/') || task.contains("..") {
        return Err(FsError::Query("task", format!("invalid task name {task:?}")));
    }
    let stream = q.str("type").unwrap_or("stdout");
    if stream != "stdout" && stream != "stderr" {
        return Err(FsError::Query("type", format!("must be stdout or stderr, got {stream:?}")));
    }
    let source = Source::Log { dir: root.join(crate::client::LOGS_DIR), task: task.into(), stream: stream.into() };
    file_stream::respond(source, q.stream_options()?).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound(format!("task {task:?} has no {stream} log yet")),
        _ => FsError::Io(e),
    })
}

fn ls(root: &Path, q: &Query) -> Result<ApiResponse, FsError> {
    let dir = q.path(root)?;
    if !dir.resolved.is_dir() {
        return Err(FsError::BadTarget(format!("{} is not a directory", dir.relative.display())));
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&dir.resolved)? {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        entries.push(AllocFileInfo::new(entry.file_name().to_string_lossy().into_owned(), &meta, String::new()));
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ApiResponse::json(&entries))
}

fn stat(root: &Path, q: &Query) -> Result<ApiResponse, FsError> {
    let path = q.path(root)?;
    let meta = std::fs::metadata(&path.resolved)?;
    let content_type = if meta.is_file() {
        let mut head = Vec::new();
        alloc_path::open(&path)?.take(SNIFF_BYTES).read_to_end(&mut head)?;
        file_info::content_type(&head).to_string()
    } else {
        String::new()
    };
    let name = path.relative.file_name().map_or_else(|| "/".into(), |n| n.to_string_lossy().into_owned());
    Ok(ApiResponse::json(&AllocFileInfo::new(name, &meta, content_type)))
}

/// A checked path that must be a regular file (not a directory, FIFO or device).
fn regular_file(root: &Path, q: &Query) -> Result<AllocPath, FsError> {
    let path = q.path(root)?;
    if !std::fs::metadata(&path.resolved)?.is_file() {
        return Err(FsError::BadTarget(format!("{} is not a regular file", path.relative.display())));
    }
    Ok(path)
}

fn file_source(path: AllocPath) -> Source {
    Source::File { relative: path.relative.display().to_string(), path: path.resolved }
}

fn cat(root: &Path, q: &Query) -> Result<ApiResponse, FsError> {
    let options = Options { offset: 0, from_end: false, follow: false, plain: true };
    Ok(file_stream::respond(file_source(regular_file(root, q)?), options)?)
}

fn readat(root: &Path, q: &Query) -> Result<ApiResponse, FsError> {
    let path = regular_file(root, q)?;
    let offset = q.number("offset")?.unwrap_or(0);
    let limit = q.number("limit")?.ok_or_else(|| FsError::Query("limit", "is required".into()))?;
    let mut file = alloc_path::open(&path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::new();
    file.take(limit).read_to_end(&mut data)?;
    Ok(ApiResponse::bytes(data, "text/plain; charset=utf-8"))
}

fn stream(root: &Path, q: &Query) -> Result<ApiResponse, FsError> {
    Ok(file_stream::respond(file_source(regular_file(root, q)?), q.stream_options()?)?)
}
