//! Backups of the servers' state (`operator snapshot save|restore`): the state at one Raft
//! index, behind a short text header with its length and SHA-256, so that a truncated or
//! damaged file is refused before anything is restored.
//!
//! ```text
//! ROVE-SNAPSHOT 1
//! index 1234
//! length 56789
//! sha256 <64 hex digits>
//!
//! <state>
//! ```

use super::command::Command;
use super::{Server, ServerError};
use base64::Engine;
use sha2::{Digest, Sha256};

const MAGIC: &str = "ROVE-SNAPSHOT 1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupError {
    #[error("not a rove snapshot (the file does not start with {MAGIC:?})")]
    NotASnapshot,
    #[error("snapshot header: {0}")]
    Header(String),
    #[error("snapshot is truncated or padded: the header says {expected} bytes of state, the file has {found}")]
    Length { expected: usize, found: usize },
    #[error("snapshot is damaged: its SHA-256 does not match the header")]
    Checksum,
}

/// What a snapshot file's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub index: u64,
    pub length: usize,
    pub sha256: String,
}

/// `bytes` as lower-case hex (how checksums are written).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encode(index: u64, state: &[u8]) -> Vec<u8> {
    let header = format!("{MAGIC}\nindex {index}\nlength {}\nsha256 {}\n\n", state.len(), hex(&Sha256::digest(state)));
    [header.as_bytes(), state].concat()
}

/// Checks a snapshot file and returns its header and state.
pub fn decode(file: &[u8]) -> Result<(SnapshotInfo, &[u8]), BackupError> {
    let split = file.windows(2).position(|w| w == b"\n\n").ok_or(BackupError::NotASnapshot)?;
    let header = std::str::from_utf8(&file[..split]).map_err(|_| BackupError::NotASnapshot)?;
    let mut lines = header.lines();
    if lines.next() != Some(MAGIC) {
        return Err(BackupError::NotASnapshot);
    }
    let mut field = |name: &str| -> Result<String, BackupError> {
        let line = lines.next().ok_or_else(|| BackupError::Header(format!("missing {name}")))?;
        line.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .map(str::to_string)
            .ok_or_else(|| BackupError::Header(format!("expected {name:?}, found {line:?}")))
    };
    let number =
        |name: &str, text: String| text.parse::<u64>().map_err(|_| BackupError::Header(format!("{name} {text:?}")));
    let index = number("index", field("index")?)?;
    let length = number("length", field("length")?)? as usize;
    let sha256 = field("sha256")?;
    let state = &file[split + 2..];
    if state.len() != length {
        return Err(BackupError::Length { expected: length, found: state.len() });
    }
    if hex(&Sha256::digest(state)) != sha256 {
        return Err(BackupError::Checksum);
    }
    Ok((SnapshotInfo { index, length, sha256 }, state))
}

impl Server {
    /// The current state as a snapshot file.
    pub fn save_snapshot(&self) -> Vec<u8> {
        let snap = self.state.snapshot();
        encode(snap.latest_index(), &snap.to_bytes())
    }

    /// Replaces the state with a snapshot file's, through Raft; returns the index it was
    /// applied at. Nothing changes unless the whole file checks out.
    pub async fn restore_snapshot(&self, file: &[u8]) -> Result<u64, ServerError> {
        let (_, state) = decode(file).map_err(|e| ServerError::BadRequest(e.to_string()))?;
        super::state::Snapshot::from_bytes(state)
            .map_err(|e| ServerError::BadRequest(format!("snapshot state does not decode: {e}")))?;
        let state = base64::engine::general_purpose::STANDARD.encode(state);
        self.proposer.propose(Command::RestoreState { state }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let file = encode(42, b"{\"state\":true}");
        let (info, state) = decode(&file).unwrap();
        assert_eq!((info.index, info.length, state), (42, 14, &b"{\"state\":true}"[..]));
        assert_eq!(decode(&file[..file.len() - 3]).unwrap_err(), BackupError::Length { expected: 14, found: 11 });
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode(&flipped).unwrap_err(), BackupError::Checksum);
        assert_eq!(decode(b"hello\n\nworld").unwrap_err(), BackupError::NotASnapshot);
        let bad_header = String::from_utf8(file.clone()).unwrap().replace("index 42", "index x");
        assert_eq!(decode(bad_header.as_bytes()).unwrap_err(), BackupError::Header("index \"x\"".into()));
    }
}
