//! Allocation directories: `alloc/` (shared `data`, `logs`, `tmp`) and, per task,
//! `<task>/local`, `<task>/secrets` and `<task>/tmp`, laid out as Nomad does.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where tasks' logs go, relative to the allocation directory.
pub const LOGS_DIR: &str = "alloc/logs";

/// The FIFO a task writes one output stream into; its collector copies what arrives into
/// the rotated files `<task>.<stream>.N` beside it, and removes the FIFO once it is done.
pub fn log_fifo_name(task: &str, stream: &str) -> String {
    format!(".{task}.{stream}.fifo")
}

pub struct AllocDir {
    pub root: PathBuf,
}

impl AllocDir {
    pub fn new(allocs_root: &Path, alloc_id: &str) -> AllocDir {
        AllocDir { root: allocs_root.join(alloc_id) }
    }

    pub fn task_dir(&self, task: &str) -> PathBuf {
        self.root.join(task)
    }

    pub fn log_fifo(&self, task: &str, stream: &str) -> PathBuf {
        self.root.join(LOGS_DIR).join(log_fifo_name(task, stream))
    }

    /// Creates the shared and per-task directories. Directories a task writes to are
    /// world-writable with the sticky bit (like /tmp), so tasks running as an
    /// unprivileged user can use them.
    pub fn build(&self, tasks: &[&str]) -> io::Result<()> {
        for shared in ["data", "logs", "tmp"] {
            create(&self.root.join("alloc").join(shared), 0o1777)?;
        }
        std::fs::set_permissions(self.root.join("alloc").join("logs"), std::fs::Permissions::from_mode(0o755))?;
        for task in tasks {
            let dir = self.task_dir(task);
            create(&dir, 0o755)?;
            create(&dir.join("local"), 0o1777)?;
            create(&dir.join("tmp"), 0o1777)?;
            create(&dir.join("secrets"), 0o1777)?;
        }
        Ok(())
    }

    /// Writes a dispatched job's payload to `<task>/local/<file>`; `file` must be a relative
    /// path that stays inside `local/`.
    pub fn write_payload(&self, task: &str, file: &str, payload: &[u8]) -> io::Result<()> {
        let relative = Path::new(file);
        let inside = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if file.is_empty() || !inside {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("dispatch_payload file {file:?} must be a relative path inside local/"),
            ));
        }
        let path = self.task_dir(task).join("local").join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, payload)
    }

    pub fn destroy(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

fn create(dir: &Path, mode: u32) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// `relative` under `dir`, when it is a relative path that stays inside it (no `..`, not
/// absolute); task files named in job files (artifact and template paths) go through this.
pub fn under(dir: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    let plain = path.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    plain.then(|| dir.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nomad_layout() {
        let root = std::env::temp_dir().join(format!("rove-allocdir-{}", crate::structs::generate_id()));
        let dir = AllocDir::new(&root, "a1");
        dir.build(&["web", "sidecar"]).unwrap();
        for path in ["alloc/data", "alloc/logs", "alloc/tmp", "web/local", "web/secrets", "web/tmp", "sidecar/local"] {
            assert!(dir.root.join(path).is_dir(), "{path} missing");
        }
        assert_eq!(dir.log_fifo("web", "stdout"), dir.root.join("alloc/logs/.web.stdout.fifo"));
        dir.destroy().unwrap();
        assert!(!dir.root.exists());
        std::fs::remove_dir_all(root).ok();
    }
}
