//! Running a command inside a running task (`alloc exec`, not interactive): in the task's
//! cgroup and, for an isolated task, in its mount, ipc and uts namespaces and root, as its
//! user; its output collected within a timeout.

use crate::cgroup::Cgroup;
use crate::exec::DEFAULT_USER;
use crate::process::{join_cgroup, Identity, DEFAULT_PATH};
use crate::{DriverError, ExecOutput, ExecRequest, TaskHandle};
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The namespaces a command joins in an isolated task (its pid namespace is left: joining
/// it would take a second fork).
const NAMESPACES: [&str; 3] = ["ipc", "uts", "mnt"];

/// Runs `request` in the task `handle` names (isolated when the task has its own root).
pub fn exec_in(handle: &TaskHandle, request: &ExecRequest) -> Result<ExecOutput, DriverError> {
    let (program, args) =
        request.cmd.split_first().ok_or_else(|| DriverError::Config("exec needs a command".into()))?;
    let isolated = handle.root.is_some();
    let entry_err = |what: &str, e: std::io::Error| DriverError::Exec(format!("entering the task's {what}: {e}"));
    // Opened before the fork; the child only makes system calls on them.
    let namespaces: Vec<File> = if isolated {
        NAMESPACES
            .iter()
            .map(|ns| File::open(format!("/proc/{}/ns/{ns}", handle.pid)).map_err(|e| entry_err(ns, e)))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let root = isolated
        .then(|| File::open(format!("/proc/{}/root", handle.pid)).map_err(|e| entry_err("root", e)))
        .transpose()?;
    let procs = Cgroup::from_dirs(&handle.cgroups).map(|c| c.open_procs()).transpose().map_err(DriverError::Cgroup)?;
    let identity = isolated.then(|| Identity::lookup(request.user.as_deref().unwrap_or(DEFAULT_USER))).transpose()?;
    let ns_fds: Vec<i32> = namespaces.iter().map(AsRawFd::as_raw_fd).collect();
    let root_fd = root.as_ref().map(AsRawFd::as_raw_fd);
    let proc_fds: Vec<i32> = procs.iter().flatten().map(AsRawFd::as_raw_fd).collect();

    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().envs(&request.env).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if !request.env.contains_key("PATH") {
        cmd.env("PATH", DEFAULT_PATH);
    }
    if !isolated {
        cmd.current_dir(&request.task_dir);
    }
    // SAFETY: the closure only makes async-signal-safe system calls (write, setns, fchdir,
    // chroot, chdir, setgroups, setgid, setuid) on descriptors and memory prepared before
    // the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) };
            join_cgroup(&proc_fds)?;
            for fd in &ns_fds {
                check(libc::setns(*fd, 0))?;
            }
            if let Some(fd) = root_fd {
                check(libc::fchdir(fd))?;
                check(libc::chroot(c".".as_ptr()))?;
                check(libc::chdir(c"/".as_ptr()))?;
            }
            if let Some(id) = &identity {
                id.become_it()?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| DriverError::Start { command: program.clone(), source })?;
    drop((namespaces, root, procs));
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + request.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(DriverError::Exec(format!("{program:?} did not finish within {:?}", request.timeout)));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => return Err(DriverError::Exec(format!("waiting for {program:?}: {e}"))),
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let exit_code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(ExecOutput { exit_code, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}
