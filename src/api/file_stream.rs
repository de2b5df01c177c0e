//! Streams a sequence of files as one: a task's rotated logs (`<task>.<stream>.N` in
//! increasing N) or a single file. Reading starts at an offset from the start or the end
//! of the whole sequence; with `follow` it keeps sending what is appended (and files
//! rotated in) until the source is no longer live or the receiver hangs up. Output is
//! raw bytes or Nomad's frames `{"File", "Offset", "Data"}`, `Offset` being where the
//! frame's data ends in `File`.

use super::response::ApiResponse;
use base64::Engine;
use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// How often a followed source is checked for new output.
const POLL: Duration = Duration::from_millis(200);
/// The most data in one frame or chunk.
const CHUNK: usize = 64 << 10;

/// What to stream.
pub enum Source {
    /// A task's rotated log files in `dir` (the allocation's `alloc/logs`); live while the
    /// log collector's FIFO exists.
    Log { dir: PathBuf, task: String, stream: String },
    /// One file, named `relative` in the allocation directory; live while it exists.
    File { relative: String, path: PathBuf },
}

struct Segment {
    key: u64,
    name: String,
    path: PathBuf,
}

impl Source {
    fn segments(&self) -> io::Result<Vec<Segment>> {
        match self {
            Source::Log { dir, task, stream } => {
                let prefix = format!("{task}.{stream}");
                Ok(crate::client::log_file_indexes(dir, &prefix)?
                    .into_iter()
                    .map(|n| Segment {
                        key: n,
                        name: format!("{}/{prefix}.{n}", crate::client::LOGS_DIR),
                        path: dir.join(format!("{prefix}.{n}")),
                    })
                    .collect())
            }
            Source::File { relative, path } => Ok(path
                .exists()
                .then(|| Segment { key: 0, name: relative.clone(), path: path.clone() })
                .into_iter()
                .collect()),
        }
    }

    fn live(&self) -> bool {
        match self {
            Source::Log { dir, task, stream } => dir.join(crate::client::log_fifo_name(task, stream)).exists(),
            Source::File { path, .. } => path.exists(),
        }
    }
}

/// Where to start and how to send.
pub struct Options {
    pub offset: u64,
    pub from_end: bool,
    pub follow: bool,
    pub plain: bool,
}

/// Starts streaming `source`; fails at once (not found) when it has no file yet.
pub fn respond(source: Source, options: Options) -> io::Result<ApiResponse> {
    let position = start(&source, options.offset, options.from_end)?;
    let (tx, rx) = smol::channel::bounded(4);
    let content_type = if options.plain { "text/plain; charset=utf-8" } else { "application/json" };
    std::thread::Builder::new().name("fs-stream".into()).spawn(move || {
        let send = |name: &str, end: u64, data: &[u8]| {
            let chunk = if options.plain {
                data.to_vec()
            } else {
                let frame = serde_json::json!({
                    "File": name,
                    "Offset": end,
                    "Data": base64::engine::general_purpose::STANDARD.encode(data),
                });
                serde_json::to_vec(&frame).expect("frames serialize")
            };
            tx.send_blocking(chunk).is_ok()
        };
        if let Err(e) = pump(&source, position, options.follow, send, || tx.is_closed()) {
            log::debug!(target: "http", "streaming a file: {e}");
        }
    })?;
    Ok(ApiResponse::streamed(rx, content_type))
}

/// A segment and an offset in it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Position {
    key: u64,
    offset: u64,
}

fn start(source: &Source, offset: u64, from_end: bool) -> io::Result<Position> {
    let segments = source.segments()?;
    let sizes: Vec<u64> =
        segments.iter().map(|s| std::fs::metadata(&s.path).map(|m| m.len())).collect::<io::Result<_>>()?;
    let total: u64 = sizes.iter().sum();
    let mut skip = if from_end { total.saturating_sub(offset) } else { offset.min(total) };
    for (i, (segment, size)) in segments.iter().zip(&sizes).enumerate() {
        if skip < *size || i + 1 == segments.len() {
            return Ok(Position { key: segment.key, offset: skip.min(*size) });
        }
        skip -= size;
    }
    Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
}

/// Sends from `position` on; returns when everything was sent and the source is not
/// followed or no longer live, or when `send` fails or `closed` says the receiver left.
fn pump(
    source: &Source,
    mut position: Position,
    follow: bool,
    mut send: impl FnMut(&str, u64, &[u8]) -> bool,
    closed: impl Fn() -> bool,
) -> io::Result<()> {
    loop {
        let live = follow && source.live();
        let Some(progressed) = drain(source, &mut position, &mut send)? else { return Ok(()) };
        if !live && !progressed {
            return Ok(());
        }
        if !progressed {
            if closed() {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Sends what the segments hold from `position` on, moving to later segments as it reaches
/// the end of one. Returns whether anything was sent, or `None` once `send` failed.
fn drain(
    source: &Source,
    position: &mut Position,
    send: &mut impl FnMut(&str, u64, &[u8]) -> bool,
) -> io::Result<Option<bool>> {
    let mut progressed = false;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let segments = source.segments()?;
        // The current segment, or the oldest still there when it was rotated away.
        let Some(index) = segments.iter().position(|s| s.key >= position.key) else { return Ok(Some(progressed)) };
        let segment = &segments[index];
        if segment.key != position.key {
            *position = Position { key: segment.key, offset: 0 };
        }
        match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&segment.path) {
            Ok(mut file) => {
                file.seek(SeekFrom::Start(position.offset))?;
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    position.offset += n as u64;
                    progressed = true;
                    if !send(&segment.name, position.offset, &buf[..n]) {
                        return Ok(None);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match segments.get(index + 1) {
            Some(next) => *position = Position { key: next.key, offset: 0 },
            None => return Ok(Some(progressed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Logs(PathBuf);

    impl Logs {
        fn new(files: &[(&str, &str)]) -> Logs {
            let dir = std::env::temp_dir().join(format!("rove-stream-{}", crate::structs::generate_id()));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            Logs(dir)
        }

        fn source(&self) -> Source {
            Source::Log { dir: self.0.clone(), task: "web".into(), stream: "stdout".into() }
        }

        fn read(&self, offset: u64, from_end: bool) -> (String, Vec<(String, u64)>) {
            let source = self.source();
            let position = start(&source, offset, from_end).unwrap();
            let (mut text, mut frames) = (String::new(), Vec::new());
            pump(
                &source,
                position,
                false,
                |name, end, data| {
                    text.push_str(std::str::from_utf8(data).unwrap());
                    frames.push((name.to_string(), end));
                    true
                },
                || false,
            )
            .unwrap();
            (text, frames)
        }
    }

    impl Drop for Logs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn rotated_files_read_as_one_in_order() {
        let logs = Logs::new(&[
            ("web.stdout.9", "ab"),
            ("web.stdout.10", "cd"),
            ("web.stdout.11", "e"),
            ("web.stderr.12", "x"),
        ]);
        let (text, frames) = logs.read(0, false);
        assert_eq!(text, "abcde");
        let names: Vec<(&str, u64)> = frames.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        assert_eq!(
            names,
            [("alloc/logs/web.stdout.9", 2), ("alloc/logs/web.stdout.10", 2), ("alloc/logs/web.stdout.11", 1)]
        );
        assert_eq!(logs.read(3, false).0, "de");
        assert_eq!(logs.read(4, true).0, "bcde");
        assert_eq!(logs.read(100, true).0, "abcde");
        assert_eq!(logs.read(100, false).0, "");
    }

    #[test]
    fn framed_responses_are_json_frames_of_base64_data() {
        let logs = Logs::new(&[("web.stdout.0", "hello "), ("web.stdout.1", "world")]);
        let options = Options { offset: 0, from_end: false, follow: false, plain: false };
        let response = respond(logs.source(), options).unwrap();
        assert!(response.headers.contains(&("Content-Type".into(), "application/json".into())));
        let rx = response.stream.unwrap().0;
        let body: Vec<u8> = smol::block_on(async {
            let mut body = Vec::new();
            while let Ok(chunk) = rx.recv().await {
                body.extend(chunk);
            }
            body
        });
        let frames: Vec<serde_json::Value> =
            serde_json::Deserializer::from_slice(&body).into_iter().collect::<Result<_, _>>().unwrap();
        let decoded: Vec<(String, u64, String)> = frames
            .iter()
            .map(|f| {
                let data = base64::engine::general_purpose::STANDARD.decode(f["Data"].as_str().unwrap()).unwrap();
                (f["File"].as_str().unwrap().into(), f["Offset"].as_u64().unwrap(), String::from_utf8(data).unwrap())
            })
            .collect();
        let expected = [("alloc/logs/web.stdout.0", 6, "hello "), ("alloc/logs/web.stdout.1", 5, "world")];
        assert_eq!(decoded, expected.map(|(f, o, d)| (f.to_string(), o, d.to_string())));
    }

    #[test]
    fn a_missing_log_is_not_found() {
        let logs = Logs::new(&[]);
        assert_eq!(start(&logs.source(), 0, false).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn following_sends_what_is_appended_until_the_source_ends() {
        let logs = Logs::new(&[("web.stdout.0", "one\n"), (".web.stdout.fifo", "")]);
        let source = logs.source();
        let dir = logs.0.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(dir.join("web.stdout.1"), "two\n").unwrap();
            std::thread::sleep(Duration::from_millis(300));
            std::fs::remove_file(dir.join(".web.stdout.fifo")).unwrap();
        });
        let mut text = String::new();
        pump(
            &source,
            Position { key: 0, offset: 0 },
            true,
            |_, _, d| {
                text.push_str(std::str::from_utf8(d).unwrap());
                true
            },
            || false,
        )
        .unwrap();
        writer.join().unwrap();
        assert_eq!(text, "one\ntwo\n");
    }
}
