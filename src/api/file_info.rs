//! Nomad's `AllocFileInfo`: what `/v1/client/fs/ls` and `/stat` say of a file, with its
//! mode written as Go writes file modes (`drwxr-xr-x`, `Lrwxrwxrwx`, `-rw-r--r--`).

use serde::{Deserialize, Serialize};
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocFileInfo {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub file_mode: String,
    /// RFC 3339, UTC.
    pub mod_time: String,
    #[serde(default)]
    pub content_type: String,
}

impl AllocFileInfo {
    /// Describes a file from its (not followed) metadata.
    pub fn new(name: String, meta: &Metadata, content_type: String) -> AllocFileInfo {
        let mod_time = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        AllocFileInfo {
            name,
            is_dir: meta.is_dir(),
            size: meta.len(),
            file_mode: file_mode(meta),
            mod_time: crate::timefmt::rfc3339(mod_time, false),
            content_type,
        }
    }
}

/// The mode as Go's `FileMode.String` writes it: type and special letters, then `rwx`.
fn file_mode(meta: &Metadata) -> String {
    let kind = meta.file_type();
    let mode = meta.mode();
    let mut out = String::new();
    for (set, letter) in [
        (kind.is_dir(), 'd'),
        (kind.is_symlink(), 'L'),
        (kind.is_block_device() || kind.is_char_device(), 'D'),
        (kind.is_fifo(), 'p'),
        (kind.is_socket(), 'S'),
        (mode & 0o4000 != 0, 'u'),
        (mode & 0o2000 != 0, 'g'),
        (kind.is_char_device(), 'c'),
        (mode & 0o1000 != 0, 't'),
    ] {
        if set {
            out.push(letter);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for (bit, letter) in (0..9).rev().zip("rwxrwxrwx".chars()) {
        out.push(if mode & (1 << bit) != 0 { letter } else { '-' });
    }
    out
}

/// Guesses a file's content type from its first bytes, as Nomad's stat does.
pub fn content_type(head: &[u8]) -> &'static str {
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sample is still text.
        Err(e) => e.error_len().is_none(),
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn modes_are_written_as_go_writes_them() {
        let dir = std::env::temp_dir().join(format!("rove-fileinfo-{}", crate::structs::generate_id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, "hello").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("f", dir.join("l")).unwrap();
        let info =
            |p: &std::path::Path| AllocFileInfo::new("x".into(), &std::fs::symlink_metadata(p).unwrap(), String::new());
        assert_eq!(info(&dir).file_mode, "dtrwxrwxrwx");
        assert!(info(&dir).is_dir);
        assert_eq!(info(&file).file_mode, "-rw-r-----");
        assert_eq!(info(&file).size, 5);
        assert!(info(&dir.join("l")).file_mode.starts_with('L'));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn text_and_binary_are_told_apart() {
        assert_eq!(content_type(b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(content_type(&[0x7f, b'E', b'L', b'F', 0, 1]), "application/octet-stream");
    }
}
