//! A small HTTP/1.1 client for the Docker Engine API over its unix socket, built on hyper
//! and smol: one connection per request, JSON in and out, streamed bodies for the calls
//! that stream (logs, pull progress, wait), and the engine's own error message in errors.
//! The API version is negotiated once through `/version`.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use smol::io::AsyncReadExt;
use smol::net::unix::UnixStream;
use smol_hyper::rt::FuturesIo;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The newest API version whose requests this client writes; older engines are spoken to
/// in their own version.
const MAX_API_VERSION: (u32, u32) = (1, 44);
/// How long a call that should answer at once may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call to the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The endpoint is not a unix socket address.
    #[error("unsupported docker endpoint {0:?}: expected unix:///path/to/docker.sock")]
    Endpoint(String),
    /// The socket could not be connected to.
    #[error("connecting to {socket}: {source}")]
    Connect {
        /// The engine's socket.
        socket: PathBuf,
        /// Why the connection failed.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("talking to the docker engine: {0}")]
    Http(String),
    /// The engine did not answer in time.
    #[error("the docker engine did not answer {0} in time")]
    Timeout(String),
    /// The engine refused the request; `message` is its own explanation.
    #[error("{message} (HTTP {status})")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The engine's `message`.
        message: String,
    },
    /// A streamed operation (pull, load) reported an error part way.
    #[error("{0}")]
    Stream(String),
    /// The answer was not the JSON expected.
    #[error("decoding the answer to {path}: {source}")]
    Decode {
        /// The request path.
        path: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A request body could not be read.
    #[error("reading {path}: {source}")]
    Body {
        /// The file sent as the body.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
}

impl EngineError {
    /// Whether the engine answered 404 (no such container or image).
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Status { status: 404, .. })
    }

    /// Whether the engine answered 409 (a name in use, a container not running, ...).
    pub fn is_conflict(&self) -> bool {
        matches!(self, EngineError::Status { status: 409, .. })
    }
}

/// What a request carries.
pub enum Payload<'a> {
    /// No body.
    Empty,
    /// A JSON document.
    Json(&'a serde_json::Value),
    /// A tar archive streamed from a file.
    Tar(&'a Path),
}

/// A connection to one Docker Engine.
pub struct Engine {
    endpoint: String,
    socket: Option<PathBuf>,
    version: OnceLock<String>,
}

impl Engine {
    /// An engine at `endpoint`: `unix:///path` or a plain absolute socket path. Nothing
    /// is connected until the first call.
    pub fn new(endpoint: &str) -> Engine {
        let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
        let socket = path.starts_with('/').then(|| PathBuf::from(path));
        Engine { endpoint: endpoint.to_string(), socket, version: OnceLock::new() }
    }

    /// The engine's socket, if the endpoint names one.
    pub fn socket(&self) -> Result<&Path, EngineError> {
        self.socket.as_deref().ok_or_else(|| EngineError::Endpoint(self.endpoint.clone()))
    }

    /// `GET /version`, unversioned; also settles the API version later calls use.
    pub async fn version(&self) -> Result<serde_json::Value, EngineError> {
        let version = self.call_raw("GET", "/version", Payload::Empty).await?;
        if let Some(api) = version.get("ApiVersion").and_then(|v| v.as_str()) {
            let _ = self.version.set(negotiate(api));
        }
        Ok(version)
    }

    /// Calls `path` (under the negotiated version prefix) and decodes a JSON answer; an
    /// empty answer is `null`.
    pub async fn call(&self, method: &str, path: &str, payload: Payload<'_>) -> Result<serde_json::Value, EngineError> {
        let path = self.versioned(path).await?;
        self.call_raw(method, &path, payload).await
    }

    /// Sends a request whose answer is read as it comes; `headers` are added to it.
    pub async fn stream(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload: Payload<'_>,
    ) -> Result<Streaming, EngineError> {
        let path = self.versioned(path).await?;
        self.send(method, &path, headers, payload).await
    }

    async fn versioned(&self, path: &str) -> Result<String, EngineError> {
        if self.version.get().is_none() {
            self.version().await?;
        }
        let version = self.version.get().map_or("1.41", String::as_str);
        Ok(format!("/v{version}{path}"))
    }

    async fn call_raw(&self, method: &str, path: &str, payload: Payload<'_>) -> Result<serde_json::Value, EngineError> {
        let exchange = async {
            let body = self.send(method, path, &[], payload).await?.collect().await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_slice(&body).map_err(|source| EngineError::Decode { path: path.to_string(), source })
        };
        let expired = async {
            smol::Timer::after(CALL_TIMEOUT).await;
            Err(EngineError::Timeout(format!("{method} {path}")))
        };
        smol::future::or(exchange, expired).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload: Payload<'_>,
    ) -> Result<Streaming, EngineError> {
        let socket = self.socket()?;
        let http = |e: hyper::Error| EngineError::Http(e.to_string());
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|source| EngineError::Connect { socket: socket.to_path_buf(), source })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(stream)).await.map_err(http)?;
        let conn = smol::spawn(async move {
            if let Err(e) = conn.await {
                log::debug!("docker engine connection: {e}");
            }
        });
        let mut request = hyper::Request::builder().method(method).uri(path).header("Host", "docker");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let body = match payload {
            Payload::Empty => empty(),
            Payload::Json(value) => {
                request = request.header("Content-Type", "application/json");
                Full::new(Bytes::from(value.to_string())).map_err(|never| match never {}).boxed()
            }
            Payload::Tar(path) => {
                request = request.header("Content-Type", "application/x-tar");
                file_body(path).await?
            }
        };
        let request = request.body(body).map_err(|e| EngineError::Http(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status().as_u16();
        let mut streaming = Streaming { body: response.into_body(), _conn: conn };
        if !(200..300).contains(&status) {
            let body = streaming.collect().await.unwrap_or_default();
            return Err(EngineError::Status { status, message: engine_message(&body) });
        }
        Ok(streaming)
    }
}

/// An answer being received; the connection lives as long as it does.
pub struct Streaming {
    body: Incoming,
    _conn: smol::Task<()>,
}

impl Streaming {
    /// The next piece of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, EngineError> {
        while let Some(frame) = self.body.frame().await {
            if let Ok(data) = frame.map_err(|e| EngineError::Http(e.to_string()))?.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// The whole rest of the body.
    pub async fn collect(&mut self) -> Result<Vec<u8>, EngineError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    /// Reads a stream of JSON messages (pull and load progress), handing each to `each`;
    /// a message with an `error` ends it with that error.
    pub async fn messages(&mut self, mut each: impl FnMut(&serde_json::Value)) -> Result<(), EngineError> {
        let mut pending = Vec::new();
        loop {
            let chunk = self.chunk().await?;
            let done = chunk.is_none();
            pending.extend_from_slice(chunk.as_deref().unwrap_or_default());
            let mut rest = pending.as_slice();
            let mut messages = serde_json::Deserializer::from_slice(rest).into_iter::<serde_json::Value>();
            for message in messages.by_ref() {
                let Ok(message) = message else { break };
                if let Some(error) = message.get("error") {
                    return Err(EngineError::Stream(error.as_str().map_or_else(|| error.to_string(), str::to_string)));
                }
                each(&message);
            }
            rest = &rest[messages.byte_offset()..];
            pending = rest.to_vec();
            if done {
                return Ok(());
            }
        }
    }
}

/// Percent-encodes query parameters.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The API version to use with an engine that speaks up to `offered`.
fn negotiate(offered: &str) -> String {
    let parsed = offered.split_once('.').and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    let (major, minor) = parsed.map_or(MAX_API_VERSION, |v| v.min(MAX_API_VERSION));
    format!("{major}.{minor}")
}

/// The engine's explanation of an error answer: its `message`, else the body as text.
fn engine_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

fn empty() -> BoxBody<Bytes, std::io::Error> {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

/// A file as a streamed request body.
async fn file_body(path: &Path) -> Result<BoxBody<Bytes, std::io::Error>, EngineError> {
    let file =
        smol::fs::File::open(path).await.map_err(|source| EngineError::Body { path: path.to_path_buf(), source })?;
    let chunks = smol::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok(BodyExt::boxed(StreamBody::new(chunks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_versions_and_queries() {
        assert_eq!(Engine::new("unix:///run/d.sock").socket().unwrap(), Path::new("/run/d.sock"));
        assert_eq!(Engine::new("/var/run/docker.sock").socket().unwrap(), Path::new("/var/run/docker.sock"));
        assert!(matches!(Engine::new("tcp://1.2.3.4:2375").socket(), Err(EngineError::Endpoint(_))));
        assert_eq!(negotiate("1.41"), "1.41");
        assert_eq!(negotiate("1.47"), "1.44");
        assert_eq!(negotiate("junk"), "1.44");
        assert_eq!(query(&[("fromImage", "reg:5000/a/b"), ("tag", "1.0")]), "fromImage=reg%3A5000%2Fa%2Fb&tag=1.0");
        assert_eq!(engine_message(br#"{"message":"No such image: x"}"#), "No such image: x");
        assert_eq!(engine_message(b"plain\n"), "plain");
    }
}
