//! A task's log collector: the task (or its driver) writes its stdout or stderr into a
//! FIFO in `alloc/logs`, and a thread copies what arrives into rotated files. Dropping the
//! collector lets the thread end once every writer is gone and everything written is
//! copied; the thread then removes the FIFO, which tells readers the log is complete.
//! [`LogCollector::finish`] does that and waits for it.

use super::log_rotator::Rotator;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Copies a FIFO into rotated files while it lives.
pub struct LogCollector {
    /// A write end of our own, so the reader sees no end of file between task restarts.
    keepalive: File,
    fifo: PathBuf,
}

impl LogCollector {
    /// Makes the FIFO at `fifo` (replacing what is there) and starts copying it into `rotator`.
    pub fn start(fifo: &Path, mut rotator: Rotator) -> io::Result<LogCollector> {
        match std::fs::remove_file(fifo) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let c_path = CString::new(fifo.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: `c_path` is a valid NUL-terminated string.
        if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // Opening the read end without O_NONBLOCK would wait for a writer.
        let mut reader = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(fifo)?;
        let keepalive = OpenOptions::new().write(true).open(fifo)?;
        // SAFETY: fcntl on a descriptor we own.
        if unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETFL, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let path: PathBuf = fifo.to_path_buf();
        let name = format!("logs-{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        std::thread::Builder::new().name(name).spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Err(e) = rotator.write(&buf[..n]) {
                            log::warn!(target: "client", "writing the log of {}: {e}", path.display());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!(target: "client", "reading {}: {e}", path.display());
                        break;
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        })?;
        Ok(LogCollector { keepalive, fifo: fifo.to_path_buf() })
    }

    /// Lets the collector end, and waits up to `timeout` until everything the task wrote
    /// is in the files (a process the task left behind may keep the FIFO open longer).
    pub async fn finish(self, timeout: Duration) {
        drop(self.keepalive);
        let deadline = Instant::now() + timeout;
        while self.fifo.exists() && Instant::now() < deadline {
            smol::Timer::after(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn copies_every_writer_until_dropped_then_removes_the_fifo() {
        let dir = std::env::temp_dir().join(format!("rove-collector-{}", crate::structs::generate_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join(".t.stdout.fifo");
        let collector = LogCollector::start(&fifo, Rotator::open(&dir, "t.stdout", 5, 4).unwrap()).unwrap();
        for text in ["first ", "second"] {
            let mut w = OpenOptions::new().append(true).open(&fifo).unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        smol::block_on(collector.finish(Duration::from_secs(10)));
        assert!(!fifo.exists(), "the collector did not finish");
        let all: String = super::super::log_rotator::indexes(&dir, "t.stdout")
            .unwrap()
            .iter()
            .map(|n| std::fs::read_to_string(dir.join(format!("t.stdout.{n}"))).unwrap())
            .collect();
        assert_eq!(all, "first second");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
