//! Per-task cgroups on cgroup v2 (unified) and v1 (one directory per controller): memory
//! limit, CPU weight, membership, OOM detection and killing every member. Kept behind this
//! one small interface so another backend can replace it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
/// The parent cgroup every task cgroup lives under.
const PARENT: &str = "rove";
/// The v1 controllers a task gets a directory in.
const V1_CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Which hierarchy this machine has, if any is usable.
pub fn detect() -> Option<Version> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        Some(Version::V2)
    } else if root.join("memory").join("cgroup.procs").exists() {
        Some(Version::V1)
    } else {
        None
    }
}

/// Limits for a task's cgroup.
pub struct Limits {
    pub memory_bytes: u64,
    pub cpu_mhz: u64,
}

/// A task's cgroup: its directories (one on v2, one per controller on v1).
#[derive(Debug, Clone)]
pub struct Cgroup {
    version: Version,
    pub dirs: Vec<PathBuf>,
}

fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// cgroup v2 weight (1..10000) for v1-style shares, the conversion runc and systemd use.
fn weight_for_shares(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

impl Cgroup {
    pub fn create(version: Version, id: &str, limits: &Limits) -> io::Result<Cgroup> {
        let name = sanitize(id);
        match version {
            Version::V2 => {
                let parent = Path::new(ROOT).join(PARENT);
                fs::create_dir_all(&parent)?;
                for dir in [Path::new(ROOT), parent.as_path()] {
                    // Controllers must be enabled down the tree for the task's files to exist.
                    let _ = fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu +pids");
                }
                let dir = parent.join(&name);
                fs::create_dir_all(&dir)?;
                fs::write(dir.join("memory.max"), limits.memory_bytes.to_string())?;
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                let _ = fs::write(dir.join("cpu.weight"), weight_for_shares(limits.cpu_mhz).to_string());
                Ok(Cgroup { version, dirs: vec![dir] })
            }
            Version::V1 => {
                let mut dirs = Vec::new();
                for controller in V1_CONTROLLERS {
                    let base = Path::new(ROOT).join(controller);
                    if !base.join("cgroup.procs").exists() {
                        continue;
                    }
                    let dir = base.join(PARENT).join(&name);
                    fs::create_dir_all(&dir)?;
                    dirs.push(dir);
                }
                let cgroup = Cgroup { version, dirs };
                let memory =
                    cgroup.controller_dir("memory").ok_or_else(|| io::Error::other("no v1 memory controller"))?;
                fs::write(memory.join("memory.limit_in_bytes"), limits.memory_bytes.to_string())?;
                let _ = fs::write(memory.join("memory.memsw.limit_in_bytes"), limits.memory_bytes.to_string());
                if let Some(cpu) = cgroup.controller_dir("cpu") {
                    fs::write(cpu.join("cpu.shares"), limits.cpu_mhz.max(2).to_string())?;
                }
                Ok(cgroup)
            }
        }
    }

    /// The directory of one v1 controller, or the v2 directory.
    fn controller_dir(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first(),
            Version::V1 => self.dirs.iter().find(|d| d.starts_with(Path::new(ROOT).join(controller))),
        }
        .map(PathBuf::as_path)
    }

    /// Reopens a task's cgroup from the directories in its handle.
    pub fn from_dirs(dirs: &[PathBuf]) -> Option<Cgroup> {
        let version = detect()?;
        (!dirs.is_empty()).then(|| Cgroup { version, dirs: dirs.to_vec() })
    }

    /// The `cgroup.procs` files a process writes itself into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Every process in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<_>>())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILLs every process in the cgroup.
    pub fn kill_all(&self) {
        if let Some(kill) = self.dirs.first().map(|d| d.join("cgroup.kill")).filter(|p| p.exists()) {
            if fs::write(kill, "1").is_ok() {
                return;
            }
        }
        for _ in 0..10 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let count = |file: PathBuf| {
            fs::read_to_string(file)
                .ok()
                .and_then(|s| {
                    s.lines().find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()))
                })
                .unwrap_or(0)
        };
        self.dirs.iter().any(|d| count(d.join("memory.events")) > 0 || count(d.join("memory.oom_control")) > 0)
    }

    /// Removes the cgroup directories once their processes are gone.
    pub fn destroy(&self) -> io::Result<()> {
        self.kill_all();
        for dir in &self.dirs {
            let mut last = Ok(());
            for _ in 0..50 {
                last = match fs::remove_dir(dir) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    other => other,
                };
                if last.is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            last?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_names() {
        assert_eq!(weight_for_shares(2), 1);
        assert_eq!(weight_for_shares(262_144), 10_000);
        assert_eq!(weight_for_shares(1024), 39);
        assert_eq!(sanitize("a1/b c"), "a1_b_c");
    }
}
