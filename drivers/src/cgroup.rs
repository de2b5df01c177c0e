//! Per-task cgroups on cgroup v2 (unified) and v1 (one directory per controller): memory
//! limit, CPU weight, CPU pinning, membership, usage, OOM detection and killing every
//! member. Kept behind this one small interface so another backend can replace it.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";
/// The parent cgroup every task cgroup lives under.
const PARENT: &str = "rove";
/// The v2 controllers enabled for task cgroups.
const V2_CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuset", "pids"];
/// The v1 controllers a task gets a directory in (those mounted on this machine); `cpuset`
/// only when the task is pinned to cores. `cpuacct` may share `cpu`'s hierarchy, in which
/// case both names lead to the same directory.
const V1_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "freezer"];
/// How long to wait for a cgroup to freeze or empty before going on regardless.
const SETTLE: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(10);

/// A cgroup hierarchy layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// The version as `cgroup.version` attributes spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "1",
            Version::V2 => "2",
        }
    }
}

/// Which hierarchy this machine has, if one with a memory controller is mounted.
pub fn detect() -> Option<Version> {
    let root = Path::new(ROOT);
    let v2_controllers = fs::read_to_string(root.join("cgroup.controllers"));
    if v2_controllers.is_ok_and(|c| c.split_whitespace().any(|c| c == "memory")) {
        Some(Version::V2)
    } else if root.join("memory").join("cgroup.procs").exists() {
        Some(Version::V1)
    } else {
        None
    }
}

/// Limits for a task's cgroup; `None` leaves the resource unlimited.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    /// CPU shares in the v1 sense (Nomad's CPU MHz); converted to a weight on v2.
    pub cpu_shares: Option<u64>,
    /// The CPUs the task is pinned to, in cpuset list syntax ("0,2").
    pub cpus: Option<String>,
}

/// What a task's processes use, from its cgroup's accounting files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory_bytes: u64,
    pub rss_bytes: u64,
    pub cache_bytes: u64,
    pub cpu_total_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
}

/// A task's cgroup: its directories (one on v2, one per controller on v1).
#[derive(Debug, Clone)]
pub struct Cgroup {
    version: Version,
    dirs: Vec<PathBuf>,
}

fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// cgroup v2 weight (1..10000) for v1-style shares, the usual linear mapping.
fn weight_for_shares(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The value of the `key N` line of a flat-keyed cgroup file (`memory.events`), 0 if absent.
fn keyed_value(file: &Path, key: &str) -> u64 {
    let content = fs::read_to_string(file).unwrap_or_default();
    content.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
}

/// Names the file an I/O error is about, which `std::fs` leaves out.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Writes a cgroup setting, saying which one failed.
fn write(file: &Path, value: &str) -> io::Result<()> {
    fs::write(file, value).map_err(at(file))
}

/// Creates a cgroup directory, saying which one failed.
fn make_dir(dir: &PathBuf) -> io::Result<()> {
    fs::create_dir_all(dir).map_err(at(dir))
}

/// Polls `done` until it holds or `SETTLE` has passed; says whether it held.
fn settle(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SETTLE;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

impl Cgroup {
    /// Creates (or reuses) the cgroup for task `id` and applies `limits`. Nothing is left
    /// behind when this fails.
    pub fn create(version: Version, id: &str, limits: &Limits) -> io::Result<Cgroup> {
        let name = sanitize(id);
        let dirs = match version {
            Version::V2 => vec![Path::new(ROOT).join(PARENT).join(name)],
            Version::V1 => V1_CONTROLLERS
                .iter()
                .chain(limits.cpus.is_some().then_some(&"cpuset"))
                .map(|c| Path::new(ROOT).join(c))
                .filter(|base| base.join("cgroup.procs").exists())
                .map(|base| base.join(PARENT).join(&name))
                .collect(),
        };
        let cgroup = Cgroup { version, dirs };
        cgroup.make().and_then(|()| cgroup.apply(limits)).inspect_err(|_| {
            let _ = cgroup.remove();
        })?;
        Ok(cgroup)
    }

    /// Reopens a task's cgroup from the directories in its handle.
    pub fn from_dirs(dirs: &[PathBuf]) -> Option<Cgroup> {
        // v2: <root>/rove/<task>; v1: <root>/<controller>/rove/<task>.
        let first = dirs.first()?;
        let depth = first.strip_prefix(ROOT).map_or(0, |p| p.components().count());
        let version = if depth == 2 { Version::V2 } else { Version::V1 };
        Some(Cgroup { version, dirs: dirs.to_vec() })
    }

    /// The cgroup's directories, as stored in a task handle.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn make(&self) -> io::Result<()> {
        if self.version == Version::V2 {
            let parent = Path::new(ROOT).join(PARENT);
            make_dir(&parent)?;
            // Controllers must be enabled down the tree for the task's files to exist; one
            // write per controller so a missing one does not stop the others.
            for dir in [Path::new(ROOT), parent.as_path()] {
                for controller in V2_CONTROLLERS {
                    let _ = fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}"));
                }
            }
        }
        self.dirs.iter().try_for_each(make_dir)
    }

    fn apply(&self, limits: &Limits) -> io::Result<()> {
        let memory = self.controller_dir("memory").ok_or_else(|| io::Error::other("no memory controller"))?;
        let cpu = self.controller_dir("cpu");
        if let Some(cpus) = &limits.cpus {
            self.pin(cpus)?;
        }
        match self.version {
            Version::V2 => {
                let max = limits.memory_bytes.map_or("max".to_string(), |b| b.to_string());
                write(&memory.join("memory.max"), &max)?;
                if limits.memory_bytes.is_some() {
                    // Without swap the limit is hard and an overrun ends in the OOM killer.
                    let _ = fs::write(memory.join("memory.swap.max"), "0");
                }
                if let (Some(shares), Some(cpu)) = (limits.cpu_shares, cpu) {
                    write_best_effort(&cpu.join("cpu.weight"), &weight_for_shares(shares).to_string());
                }
            }
            Version::V1 => {
                let limit = limits.memory_bytes.map_or("-1".to_string(), |b| b.to_string());
                // memsw (memory + swap) must stay >= the memory limit: lower it last, raise it first.
                let memsw = memory.join("memory.memsw.limit_in_bytes");
                write_best_effort(&memsw, "-1");
                write(&memory.join("memory.limit_in_bytes"), &limit)?;
                write_best_effort(&memsw, &limit);
                if let (Some(shares), Some(cpu)) = (limits.cpu_shares, cpu) {
                    write_best_effort(&cpu.join("cpu.shares"), &shares.max(2).to_string());
                }
            }
        }
        Ok(())
    }

    /// Restricts the cgroup to `cpus`. A v1 cpuset cgroup starts with no CPUs and no memory
    /// nodes, and a process cannot join it until both are set, down from the parent.
    fn pin(&self, cpus: &str) -> io::Result<()> {
        let dir = self.controller_dir("cpuset").ok_or_else(|| io::Error::other("no cpuset controller"))?;
        if self.version == Version::V1 {
            let parent = dir.parent().ok_or_else(|| io::Error::other("cpuset cgroup has no parent"))?;
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let inherited = |dir: &Path| fs::read_to_string(dir.join(file)).map_err(at(&dir.join(file)));
                if inherited(parent)?.trim().is_empty() {
                    let root = parent.parent().ok_or_else(|| io::Error::other("cpuset parent has no parent"))?;
                    write(&parent.join(file), inherited(root)?.trim())?;
                }
                if file == "cpuset.mems" {
                    write(&dir.join(file), inherited(parent)?.trim())?;
                }
            }
        }
        write(&dir.join("cpuset.cpus"), cpus)
    }

    /// The directory of one v1 controller, or the v2 directory.
    fn controller_dir(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first(),
            Version::V1 => self.dirs.iter().find(|d| d.starts_with(Path::new(ROOT).join(controller))),
        }
        .map(PathBuf::as_path)
    }

    /// The `cgroup.procs` files, opened for writing (close-on-exec): a process joins the
    /// cgroup by writing "0" to each of them.
    pub fn open_procs(&self) -> io::Result<Vec<fs::File>> {
        self.dirs
            .iter()
            .map(|d| {
                let file = d.join("cgroup.procs");
                fs::OpenOptions::new().write(true).open(&file).map_err(at(&file))
            })
            .collect()
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

    /// SIGKILLs every process in the cgroup and waits (briefly) until it is empty. The
    /// cgroup is frozen meanwhile where possible, so nothing can fork out of the kill.
    pub fn kill_all(&self) {
        let kill_file = self.dirs.first().map(|d| d.join("cgroup.kill"));
        if self.version == Version::V2 && kill_file.is_some_and(|f| fs::write(f, "1").is_ok()) {
            settle(|| self.pids().is_empty());
            return;
        }
        self.set_frozen(true);
        self.kill_members();
        // Killed processes only die once thawed.
        self.set_frozen(false);
        settle(|| self.kill_members());
    }

    /// SIGKILLs the cgroup's processes; says whether there were none.
    fn kill_members(&self) -> bool {
        let pids = self.pids();
        for &pid in &pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        pids.is_empty()
    }

    /// Freezes or thaws the cgroup and waits for that state; says whether it got there.
    fn set_frozen(&self, frozen: bool) -> bool {
        match self.version {
            Version::V2 => {
                let Some(dir) = self.dirs.first() else { return false };
                let value = u64::from(frozen);
                fs::write(dir.join("cgroup.freeze"), value.to_string()).is_ok()
                    && settle(|| keyed_value(&dir.join("cgroup.events"), "frozen") == value)
            }
            Version::V1 => {
                let Some(dir) = self.controller_dir("freezer") else { return false };
                let (file, value) = (dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" });
                fs::write(&file, value).is_ok() && settle(|| fs::read_to_string(&file).is_ok_and(|s| s.trim() == value))
            }
        }
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let Some(memory) = self.controller_dir("memory") else { return false };
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        keyed_value(&memory.join(file), "oom_kill") > 0
    }

    /// The cgroup's memory and CPU use so far, `None` once it is gone; what a file does not
    /// offer reads as 0.
    pub fn usage(&self) -> Option<Usage> {
        if !self.dirs.iter().all(|d| d.exists()) {
            return None;
        }
        let file = |name: &str| self.dirs.iter().map(|d| d.join(name)).find(|f| f.exists());
        let number = |name: &str| {
            file(name).and_then(|f| fs::read_to_string(f).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        };
        let keyed = |name: &str, key: &str| file(name).map_or(0, |f| keyed_value(&f, key));
        Some(match self.version {
            Version::V2 => Usage {
                memory_bytes: number("memory.current"),
                rss_bytes: keyed("memory.stat", "anon"),
                cache_bytes: keyed("memory.stat", "file"),
                cpu_total_ns: keyed("cpu.stat", "usage_usec") * 1000,
                cpu_user_ns: keyed("cpu.stat", "user_usec") * 1000,
                cpu_system_ns: keyed("cpu.stat", "system_usec") * 1000,
            },
            Version::V1 => Usage {
                memory_bytes: number("memory.usage_in_bytes"),
                rss_bytes: keyed("memory.stat", "total_rss"),
                cache_bytes: keyed("memory.stat", "total_cache"),
                cpu_total_ns: number("cpuacct.usage"),
                cpu_user_ns: number("cpuacct.usage_user"),
                cpu_system_ns: number("cpuacct.usage_sys"),
            },
        })
    }

    /// Kills whatever is left in the cgroup and removes its directories.
    pub fn destroy(&self) -> io::Result<()> {
        self.kill_all();
        self.remove()
    }

    /// Removes the cgroup directories; the kernel refuses while processes remain.
    fn remove(&self) -> io::Result<()> {
        self.dirs.iter().try_for_each(|dir| {
            let mut result = Ok(());
            settle(|| {
                result = match fs::remove_dir(dir) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    other => other.map_err(at(dir)),
                };
                result.is_ok()
            });
            result
        })
    }
}

/// Writes a setting that not every kernel or configuration offers, logging a failure.
fn write_best_effort(file: &Path, value: &str) {
    if let Err(e) = fs::write(file, value) {
        log::debug!("cgroup: writing {value} to {}: {e}", file.display());
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

    #[test]
    fn version_from_handle_dirs() {
        let v2 = Cgroup::from_dirs(&[PathBuf::from("/sys/fs/cgroup/rove/t")]).unwrap();
        assert_eq!(v2.version, Version::V2);
        let v1 = Cgroup::from_dirs(&[PathBuf::from("/sys/fs/cgroup/memory/rove/t")]).unwrap();
        assert_eq!(v1.version, Version::V1);
        assert_eq!(v1.controller_dir("cpu"), None);
        assert!(Cgroup::from_dirs(&[]).is_none());
    }

    #[test]
    fn reads_keyed_files() {
        let file = std::env::temp_dir().join(format!("rove-keyed-{}", std::process::id()));
        fs::write(&file, "oom 2\noom_kill 1\nunder_oom 0\n").unwrap();
        assert_eq!(keyed_value(&file, "oom_kill"), 1);
        assert_eq!(keyed_value(&file, "oom"), 2);
        assert_eq!(keyed_value(&file, "missing"), 0);
        fs::remove_file(file).unwrap();
    }
}
