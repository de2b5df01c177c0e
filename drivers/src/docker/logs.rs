//! Copying a container's output into the task's log files: a background thread follows
//! `GET /containers/{id}/logs` and splits the engine's multiplexed stream (an 8-byte
//! header per frame: stream number, three zero bytes, big-endian length) into stdout and
//! stderr, appending to each file.

use super::engine::{Engine, EngineError, Payload};
use std::fs::File;
use std::io::Write;
use std::sync::mpsc;
use std::sync::Arc;

/// The task's two log files, opened for appending.
pub struct LogFiles {
    pub stdout: File,
    pub stderr: File,
}

/// Starts following the container's output (from `since`, in Unix seconds, or from its
/// start). The returned receiver gets a message (or disconnects) once the stream ended,
/// i.e. the container stopped and everything it wrote is in the files.
pub fn follow(engine: Arc<Engine>, container: String, since: Option<u64>, files: LogFiles) -> mpsc::Receiver<()> {
    let (done_tx, done_rx) = mpsc::channel();
    let thread_name = format!("docker-logs-{}", short(&container));
    let spawned = std::thread::Builder::new().name(thread_name.clone()).spawn(move || {
        if let Err(e) = smol::block_on(copy(&engine, &container, since, files)) {
            log::warn!("docker: following the logs of container {}: {e}", short(&container));
        }
        let _ = done_tx.send(());
    });
    if let Err(e) = spawned {
        log::warn!("docker: no thread {thread_name} to follow a container's logs: {e}");
    }
    done_rx
}

async fn copy(engine: &Engine, container: &str, since: Option<u64>, mut files: LogFiles) -> Result<(), EngineError> {
    let since = since.map(|s| format!("&since={s}")).unwrap_or_default();
    let path = format!("/containers/{container}/logs?follow=1&stdout=1&stderr=1{since}");
    let mut answer = engine.stream("GET", &path, &[], Payload::Empty).await?;
    let mut frames = Demux::default();
    while let Some(chunk) = answer.chunk().await? {
        frames.push(&chunk, |stream, data| {
            let file = if stream == 2 { &mut files.stderr } else { &mut files.stdout };
            if let Err(e) = file.write_all(data) {
                log::warn!("docker: writing the log of container {}: {e}", short(container));
            }
        });
    }
    Ok(())
}

/// Splits the multiplexed stream into frames, however the chunks cut it.
#[derive(Default)]
pub(super) struct Demux {
    pending: Vec<u8>,
}

impl Demux {
    /// Adds `chunk` and hands each complete frame to `frame` as (stream number, data).
    pub(super) fn push(&mut self, chunk: &[u8], mut frame: impl FnMut(u8, &[u8])) {
        self.pending.extend_from_slice(chunk);
        let mut at = 0;
        while let Some(header) = self.pending.get(at..at + 8) {
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let Some(data) = self.pending.get(at + 8..at + 8 + len) else { break };
            frame(header[0], data);
            at += 8 + len;
        }
        self.pending.drain(..at);
    }
}

/// A container id as `docker ps` shows it.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_are_reassembled() {
        let mut stream = Vec::new();
        for (n, text) in [(1u8, "out\n"), (2, "err\n"), (1, "more")] {
            stream.extend_from_slice(&[n, 0, 0, 0]);
            stream.extend_from_slice(&(text.len() as u32).to_be_bytes());
            stream.extend_from_slice(text.as_bytes());
        }
        for cut in 0..stream.len() {
            let mut demux = Demux::default();
            let mut got = Vec::new();
            demux.push(&stream[..cut], |s, d| got.push((s, String::from_utf8_lossy(d).to_string())));
            demux.push(&stream[cut..], |s, d| got.push((s, String::from_utf8_lossy(d).to_string())));
            let got: Vec<(u8, &str)> = got.iter().map(|(s, d)| (*s, d.as_str())).collect();
            assert_eq!(got, [(1, "out\n"), (2, "err\n"), (1, "more")], "cut at {cut}");
            assert!(demux.pending.is_empty());
        }
    }
}
