//! Running a task in new pid, mount, ipc and uts namespaces, inside its root filesystem.
//!
//! Three processes, all in the task's cgroup and process group:
//!
//! - the spawned child, the one the agent knows (`TaskHandle::pid`) and waits on. It enters
//!   the new namespaces, builds the root, forks the namespace's init and then only waits:
//!   when the task ends it ends the same way (the same exit code, or killed by the same
//!   signal), so the agent sees the task's own status. It ignores the signals the agent
//!   sends to its process group.
//! - the namespace's init (pid 1 inside), in the same process group. It mounts /proc,
//!   forks the task, forwards every signal the agent sends to the task's process group,
//!   reaps orphans and reports the task's wait status to the child over a pipe. When it
//!   exits the kernel kills whatever is left in the namespace. The kernel shields a
//!   namespace's init from signals it has no handler for, which is why the task is not
//!   the init: the task (pid 2) gets SIGTERM as a plain process would.
//! - the task, which returns from [`Isolation::enter`] in a session of its own (so, as
//!   without isolation, its main process cannot leave the group it is signalled through)
//!   and goes on to `exec`.
//!
//! The first two never `exec`: they are copies of the agent and use only async-signal-safe
//! system calls. Where the agent may (CAP_SYS_RESOURCE), both are exempt from the OOM
//! killer, so a memory limit kills the task and not its supervisors; the task gets the
//! agent's OOM score back. Where it may not, an OOM kill of either still ends the task
//! (the init's exit empties the namespace) and is reported as the task's.

use crate::chroot::{self, RootFs};
use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The namespaces a task gets.
const NAMESPACES: libc::c_int = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
/// The longest host name the kernel takes.
const HOST_NAME_MAX: usize = 64;

/// In the namespace's init: the task's pid, whose process group signals are forwarded to.
static TASK: AtomicI32 = AtomicI32::new(0);

/// What the child needs to isolate a task, prepared before the fork.
pub struct Isolation {
    rootfs: RootFs,
    hostname: CString,
    /// The agent's OOM score adjustment, which the task gets back.
    oom_score_adj: Vec<u8>,
    /// Every descriptor below this is closed in the supervising processes.
    max_fd: libc::c_uint,
}

impl Isolation {
    /// Isolation for a task named `name` whose root is `rootfs`.
    pub fn new(rootfs: RootFs, name: &str) -> Isolation {
        let hostname: Vec<u8> = name
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { b } else { b'-' })
            .take(HOST_NAME_MAX)
            .collect();
        let oom_score_adj = std::fs::read("/proc/self/oom_score_adj").unwrap_or_else(|_| b"0".to_vec());
        let mut limit = libc::rlimit { rlim_cur: 1024, rlim_max: 1024 };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        let max_fd = limit.rlim_cur.min(65_536) as libc::c_uint;
        Isolation { rootfs, hostname: CString::new(hostname).unwrap_or_default(), oom_score_adj, max_fd }
    }

    /// The root filesystem's mount points, for the task handle.
    pub fn rootfs(&self) -> &RootFs {
        &self.rootfs
    }

    /// In the spawned child (root, already in the task's cgroup): isolates the task and
    /// returns only in the task process, with its root and working directory set.
    pub fn enter(&self) -> io::Result<()> {
        // Best effort: without the capability the supervisors keep the agent's score.
        let _ = set_oom_score_adj(b"-1000");
        check(unsafe { libc::unshare(NAMESPACES) })?;
        check(unsafe { libc::sethostname(self.hostname.as_ptr(), self.hostname.as_bytes().len()) })?;
        self.rootfs.enter()?;
        let mut status_pipe = [0; 2];
        check(unsafe { libc::pipe2(status_pipe.as_mut_ptr(), libc::O_CLOEXEC) })?;
        let [status_read, status_write] = status_pipe;
        match check_pid(unsafe { libc::fork() })? {
            0 => {}
            init_pid => {
                unsafe { libc::close(status_write) };
                supervise(init_pid, status_read, self.max_fd)
            }
        }
        // The namespace's init.
        unsafe { libc::close(status_read) };
        chroot::mount_proc()?;
        // Signals wait until the init forwards them (a namespace's init drops those it
        // has no handler for).
        let (all, mut unblocked) = unsafe { (full_signal_set(), std::mem::zeroed()) };
        check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &all, &mut unblocked) })?;
        match check_pid(unsafe { libc::fork() })? {
            0 => {}
            task_pid => init(task_pid, status_write, self.max_fd, &unblocked),
        }
        check(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &unblocked, std::ptr::null_mut()) })?;
        check_pid(unsafe { libc::setsid() })?;
        set_oom_score_adj(&self.oom_score_adj)
    }
}

/// The spawned child's life once the init runs: waits for it and ends as the task ended.
fn supervise(init: libc::pid_t, status_read: libc::c_int, max_fd: libc::c_uint) -> ! {
    for signal in forwarded() {
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    // Among them the pipe through which `Command::spawn` learns that the task exec'd.
    close_all_but(status_read, max_fd);
    let init_status = wait_for(init);
    let mut bytes = [0u8; 4];
    let read = unsafe { libc::read(status_read, bytes.as_mut_ptr().cast(), bytes.len()) };
    // Without a report the init itself was killed (the OOM killer spares it; a stop does not).
    let status = if read == 4 { libc::c_int::from_ne_bytes(bytes) } else { init_status };
    end_like(status)
}

/// The init's life once the task runs: forwards signals to the task's process group,
/// reaps every child, reports the task's status.
fn init(task: libc::pid_t, status_write: libc::c_int, max_fd: libc::c_uint, unblocked: &libc::sigset_t) -> ! {
    TASK.store(task, Ordering::SeqCst);
    for signal in forwarded() {
        unsafe { libc::signal(signal, forward as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, unblocked, std::ptr::null_mut()) };
    close_all_but(status_write, max_fd);
    let status = wait_for(task);
    let bytes = status.to_ne_bytes();
    unsafe {
        libc::write(status_write, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(0)
    }
}

/// The init's signal handler: passes the signal on to the task's process group.
extern "C" fn forward(signal: libc::c_int) {
    unsafe { libc::kill(-TASK.load(Ordering::SeqCst), signal) };
}

/// The signals the supervising processes ignore or forward: all but those that cannot be
/// caught and SIGCHLD, which they wait on.
fn forwarded() -> impl Iterator<Item = libc::c_int> {
    (1..32).filter(|s| !matches!(*s, libc::SIGKILL | libc::SIGSTOP | libc::SIGCHLD))
}

/// A set of every signal.
unsafe fn full_signal_set() -> libc::sigset_t {
    let mut set = std::mem::zeroed();
    libc::sigfillset(&mut set);
    set
}

/// Waits for `pid`, reaping any other child on the way; its wait status.
fn wait_for(pid: libc::pid_t) -> libc::c_int {
    loop {
        let mut status = 0;
        match unsafe { libc::waitpid(-1, &mut status, 0) } {
            reaped if reaped == pid => return status,
            -1 if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) => return 127 << 8,
            _ => {}
        }
    }
}

/// Exits with the exit code of `status`, or dies of its signal (without a core dump).
fn end_like(status: libc::c_int) -> ! {
    unsafe {
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal)
        }
        libc::_exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 127 })
    }
}

/// Closes every descriptor from 3 up, but `keep`.
fn close_all_but(keep: libc::c_int, max_fd: libc::c_uint) {
    let keep = keep as libc::c_uint;
    for (first, last) in [(3, keep.saturating_sub(1)), (keep + 1, libc::c_uint::MAX)] {
        if first > last {
            continue;
        }
        let closed = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if closed == -1 {
            // Kernels before 5.9: one by one, up to the descriptor limit.
            for fd in first..last.min(max_fd) {
                unsafe { libc::close(fd as libc::c_int) };
            }
        }
    }
}

/// Sets the calling process's OOM score adjustment.
fn set_oom_score_adj(value: &[u8]) -> io::Result<()> {
    let fd = unsafe { libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    check(fd)?;
    let written = unsafe { libc::write(fd, value.as_ptr().cast(), value.len()) };
    unsafe { libc::close(fd) };
    if written == value.len() as isize {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn check_pid(pid: libc::pid_t) -> io::Result<libc::pid_t> {
    check(pid).map(|()| pid)
}
