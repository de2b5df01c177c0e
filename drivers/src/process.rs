//! Launching and supervising a task's process tree, shared by exec, java and raw_exec: a
//! new session, an optional cgroup joined before `exec` (so no child escapes it), optional
//! namespaces and root filesystem, an optional drop to an unprivileged user, and waiting,
//! signalling and killing by process group and cgroup.

use crate::cgroup::Cgroup;
use crate::isolation::Isolation;
use crate::settings::Settings;
use crate::{chroot, signal, Driver, DriverError, DriverInfo, ExitResult, TaskConfig, TaskHandle, TaskStats};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The PATH a task gets when its environment has none.
pub(crate) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a process driver sets up before starting a task.
pub struct Prepared {
    pub command: CommandConfig,
    pub cgroup: Option<Cgroup>,
    pub identity: Option<Identity>,
    pub isolation: Option<Isolation>,
}

/// A driver that runs the task's command as a process: it only decides how the process is
/// confined; starting, waiting, stopping and cleaning up are shared.
pub trait Launcher: Send + Sync {
    const NAME: &'static str;
    fn health(&self) -> DriverInfo;
    /// Parses the task's config and sets up its confinement; nothing is left behind when
    /// this fails.
    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError>;
}

impl<L: Launcher> Driver for L {
    fn name(&self) -> &'static str {
        L::NAME
    }

    fn fingerprint(&self) -> DriverInfo {
        self.health()
    }

    fn start(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        spawn(L::NAME, cfg, self.prepare(cfg)?)
    }

    fn wait(&self, handle: &TaskHandle) -> Result<ExitResult, DriverError> {
        wait(check::<L>(handle)?)
    }

    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        send(check::<L>(handle)?, signal::parse(signal)?)
    }

    fn stop(&self, handle: &TaskHandle, signal: &str, timeout: Duration) -> Result<(), DriverError> {
        stop(check::<L>(handle)?, signal::parse(signal)?, timeout)
    }

    fn destroy(&self, handle: &TaskHandle) -> Result<(), DriverError> {
        destroy(check::<L>(handle)?)
    }

    fn exec(&self, handle: &TaskHandle, request: &crate::ExecRequest) -> Result<crate::ExecOutput, DriverError> {
        crate::task_exec::exec_in(check::<L>(handle)?, request)
    }

    fn stats(&self, handle: &TaskHandle) -> Result<TaskStats, DriverError> {
        let cgroup = Cgroup::from_dirs(&check::<L>(handle)?.cgroups).ok_or(DriverError::NoStats)?;
        let usage = cgroup.usage().ok_or(DriverError::NoStats)?;
        let collected_at_unix_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Ok(TaskStats {
            memory_bytes: usage.memory_bytes,
            memory_rss_bytes: usage.rss_bytes,
            memory_cache_bytes: usage.cache_bytes,
            cpu_total_ns: usage.cpu_total_ns,
            cpu_user_ns: usage.cpu_user_ns,
            cpu_system_ns: usage.cpu_system_ns,
            collected_at_unix_ns,
        })
    }
}

/// Refuses handles of other drivers and pids that would signal the agent's own group or
/// every process (0, -1).
fn check<L: Launcher>(handle: &TaskHandle) -> Result<&TaskHandle, DriverError> {
    if handle.driver != L::NAME {
        return Err(DriverError::InvalidHandle(format!("started by {:?}, not {:?}", handle.driver, L::NAME)));
    }
    if handle.pid <= 1 {
        return Err(DriverError::InvalidHandle(format!("pid {}", handle.pid)));
    }
    Ok(handle)
}

/// The `command` and `args` of an exec or raw_exec config block.
pub struct CommandConfig {
    pub command: String,
    pub args: Vec<String>,
}

impl CommandConfig {
    pub fn parse(config: &serde_json::Value) -> Result<CommandConfig, DriverError> {
        let settings = Settings::new(config, &["command", "args"])?;
        Ok(CommandConfig { command: settings.required("command")?, args: settings.strings("args")? })
    }
}

/// The identity a task runs as.
pub struct Identity {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

impl Identity {
    pub fn lookup(name: &str) -> Result<Identity, DriverError> {
        let user = nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| DriverError::UnknownUser(name.to_string()))?;
        let cname = CString::new(name).map_err(|_| DriverError::UnknownUser(name.to_string()))?;
        let groups = nix::unistd::getgrouplist(&cname, user.gid)
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_else(|_| vec![user.gid.as_raw()]);
        Ok(Identity { uid: user.uid.as_raw(), gid: user.gid.as_raw(), groups })
    }

    /// In a forked child: drops to this user and its groups. Async-signal-safe.
    pub(crate) fn become_it(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls on memory prepared before the fork.
        let failed = unsafe {
            libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0
                || libc::setgid(self.gid) != 0
                || libc::setuid(self.uid) != 0
        };
        if failed {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// In a forked child: moves it into the cgroups whose `cgroup.procs` files are `fds`
/// (opened before the fork). Async-signal-safe.
pub(crate) fn join_cgroup(fds: &[i32]) -> std::io::Result<()> {
    for fd in fds {
        // SAFETY: a write of one byte from a static buffer to a descriptor we own.
        if unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) } != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Starts the task's command in a new session, inside its cgroup, namespaces and root, and
/// as its user, as far as `prepared` has them. What was prepared is released if it fails.
fn spawn(driver: &str, cfg: &TaskConfig, prepared: Prepared) -> Result<TaskHandle, DriverError> {
    let Prepared { command, cgroup, identity, isolation } = prepared;
    let mut handle = TaskHandle {
        driver: driver.to_string(),
        pid: 0,
        cgroups: cgroup.as_ref().map(|c| c.dirs().to_vec()).unwrap_or_default(),
        started_at_unix_ms: 0,
        root: isolation.as_ref().map(|_| cfg.task_dir.clone()),
        mount_points: isolation.as_ref().map(|i| i.rootfs().mount_points().to_vec()).unwrap_or_default(),
        ..TaskHandle::default()
    };
    let child = fork_exec(cfg, &command, cgroup.as_ref(), identity, isolation).inspect_err(|_| {
        let _ = release(&handle);
    })?;
    handle.pid = child.id() as i32;
    handle.started_at_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Ok(handle)
}

/// Forks the task's process, which confines itself before it execs the command.
fn fork_exec(
    cfg: &TaskConfig,
    command: &CommandConfig,
    cgroup: Option<&Cgroup>,
    identity: Option<Identity>,
    isolation: Option<Isolation>,
) -> Result<std::process::Child, DriverError> {
    let open_log = |path: &std::path::Path| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| DriverError::Logs { path: path.to_path_buf(), source })
    };
    let stdout = open_log(&cfg.stdout_path)?;
    let stderr = open_log(&cfg.stderr_path)?;
    // Opened before fork (close-on-exec), written from the child before it execs.
    let procs = cgroup.map(Cgroup::open_procs).transpose().map_err(DriverError::Cgroup)?.unwrap_or_default();
    let proc_fds: Vec<i32> = procs.iter().map(|f| f.as_raw_fd()).collect();
    let mut cmd = Command::new(&command.command);
    cmd.args(&command.args)
        .env_clear()
        .envs(&cfg.env)
        .current_dir(&cfg.task_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    if !cfg.env.contains_key("PATH") {
        cmd.env("PATH", DEFAULT_PATH);
    }
    // SAFETY: the closure only makes async-signal-safe system calls (setsid, write,
    // setgroups, setgid, setuid and those of `Isolation::enter`) on memory prepared before
    // the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            join_cgroup(&proc_fds)?;
            if let Some(isolation) = &isolation {
                isolation.enter()?;
            }
            if let Some(id) = &identity {
                id.become_it()?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| DriverError::Start { command: command.command.clone(), source });
    drop(procs);
    child
}

/// Waits for the task's main process and reports how it ended.
fn wait(handle: &TaskHandle) -> Result<ExitResult, DriverError> {
    let pid = Pid::from_raw(handle.pid);
    let status = loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(DriverError::Wait(format!("pid {}: {e}", handle.pid))),
            Ok(status) => break status,
        }
    };
    let oom_killed = Cgroup::from_dirs(&handle.cgroups).is_some_and(|c| c.oom_killed());
    Ok(match status {
        WaitStatus::Exited(_, code) => ExitResult { exit_code: code, oom_killed, ..ExitResult::default() },
        WaitStatus::Signaled(_, signal, _) => {
            ExitResult { exit_code: 128 + signal as i32, signal: signal as i32, oom_killed, err: None }
        }
        other => ExitResult {
            exit_code: -1,
            err: Some(format!("unexpected wait status {other:?}")),
            ..ExitResult::default()
        },
    })
}

/// Whether the process still runs (a zombie waiting to be reaped does not).
/// Whether a process runs (a zombie does not).
pub fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).is_some_and(|s| s != 'Z')
        }
        Err(_) => false,
    }
}

/// Signals the task's process group, waits up to `timeout` for the main process to end,
/// then kills everything left of the task. A main process that already ended gets no
/// signal: what it left behind is killed at once.
/// Signals the task's process group (its main process if the group is gone), if it runs.
fn send(handle: &TaskHandle, signal: Signal) -> Result<(), DriverError> {
    let pid = Pid::from_raw(handle.pid);
    if running(handle.pid) {
        killpg(pid, signal).or_else(|_| kill(pid, signal)).map_err(|e| DriverError::Signal(e.to_string()))?;
    }
    Ok(())
}

fn stop(handle: &TaskHandle, signal: Signal, timeout: Duration) -> Result<(), DriverError> {
    send(handle, signal)?;
    let deadline = Instant::now() + timeout;
    while running(handle.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_tree(handle);
    Ok(())
}

/// SIGKILLs every process of the task: its cgroup if it has one (children cannot leave
/// it, unlike the process group), else its process group.
fn kill_tree(handle: &TaskHandle) {
    match Cgroup::from_dirs(&handle.cgroups) {
        Some(cgroup) => cgroup.kill_all(),
        None => {
            let _ = killpg(Pid::from_raw(handle.pid), Signal::SIGKILL);
        }
    }
}

/// Kills what is left of the task, removes its cgroup and then its root's mount points
/// (whose mounts went with the task's mount namespace, i.e. with its last process).
fn destroy(handle: &TaskHandle) -> Result<(), DriverError> {
    if handle.cgroups.is_empty() {
        kill_tree(handle);
    }
    release(handle)
}

/// Removes the task's cgroup (killing what is left in it) and its root's mount points.
fn release(handle: &TaskHandle) -> Result<(), DriverError> {
    let result = Cgroup::from_dirs(&handle.cgroups).map_or(Ok(()), |c| c.destroy().map_err(DriverError::Cgroup));
    if let Some(root) = &handle.root {
        chroot::remove_mount_points(root, &handle.mount_points);
    }
    result
}
