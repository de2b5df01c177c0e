//! exec's isolation with real processes (run as root): namespaces, the chroot and its
//! cleanup, exit statuses through the namespace's init, CPU pinning and usage statistics.

mod common;

use common::{alive, cgroup_pids, wait_for, wait_in_background, Task, EXEC};
use rove_drivers::{ChrootEnv, Driver, ExecDriver};
use std::path::Path;
use std::time::Duration;

/// Whether the host's mount table mentions `path`.
fn host_mounts_mention(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(path.to_str().unwrap())
}

#[test]
fn exec_task_has_its_own_namespaces_and_root() {
    let script = "echo pid=$$ session=$(cut -d' ' -f6 /proc/$$/stat); cat /proc/sys/kernel/hostname; id -u; ls /; ls /proc | grep -c '^[0-9]'; \
                  pwd; echo note > /local/note; echo shared > /alloc/shared; touch /etc/rove-probe; \
                  echo done; sleep 1000";
    let task = Task::new("isolated", &["-c", script]);
    let handle = EXEC.start(&task.cfg).unwrap();
    wait_for("task output", || task.stdout().ends_with("done\n"));
    let out = task.stdout();
    let lines: Vec<&str> = out.lines().collect();
    // The namespace's init is pid 1; the task is the first process it starts, in a session
    // of its own.
    assert_eq!(lines[0], "pid=2 session=2", "{out}");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(lines[1], "isolated");
    assert_ne!(lines[1], host_name.trim());
    assert_eq!(lines[2], "65534", "runs as nobody");
    let root: Vec<&str> = lines.iter().skip(3).take_while(|l| l.parse::<u32>().is_err()).copied().collect();
    for present in ["alloc", "bin", "dev", "etc", "local", "proc", "secrets", "tmp", "usr"] {
        assert!(root.contains(&present), "/{present} missing from {root:?}");
    }
    for absent in ["home", "root", "work", "boot"] {
        assert!(!root.contains(&absent), "host's /{absent} visible in {root:?}");
    }
    // Its /proc shows its own pid namespace only: init, sh, and the pipeline's processes.
    let procs: u32 = lines[3 + root.len()].parse().unwrap();
    assert!(procs <= 5, "{procs} processes visible");
    assert_eq!(lines[4 + root.len()], "/", "the task directory is the working directory");
    assert_eq!(std::fs::read_to_string(task.dir.join("local/note")).unwrap(), "note\n");
    assert_eq!(std::fs::read_to_string(task.alloc.join("alloc/shared")).unwrap(), "shared\n");
    assert!(task.stderr().contains("rove-probe"), "nobody cannot write the host's /etc: {}", task.stderr());
    assert!(!Path::new("/etc/rove-probe").exists());
    // The mounts live in the task's mount namespace only.
    assert!(!host_mounts_mention(&task.dir), "task mounts leaked into the host namespace");

    let waiter = wait_in_background(&*EXEC, &handle);
    EXEC.stop(&handle, "SIGTERM", Duration::from_secs(2)).unwrap();
    assert_eq!(waiter.join().unwrap().signal, 15, "the task itself got SIGTERM and died of it");
    EXEC.destroy(&handle).unwrap();
    assert!(!host_mounts_mention(&task.dir));
    let mut left: Vec<String> =
        std::fs::read_dir(&task.dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, ["local", "secrets", "stderr", "stdout", "tmp"], "mount points removed, task files kept");
    assert_eq!(std::fs::read_to_string(task.dir.join("local/note")).unwrap(), "note\n");
    for host in ["/bin/sh", "/usr/bin/env", "/etc/passwd"] {
        assert!(Path::new(host).exists(), "{host} still on the host");
    }
}

#[test]
fn chroot_is_read_only_even_for_root_and_configurable() {
    let mut task = Task::new("readonly", &["-c", "touch /usr/rove-probe; ls /opt >/dev/null 2>&1 || echo no-opt"]);
    task.cfg.user = Some("root".into());
    let handle = EXEC.start(&task.cfg).unwrap();
    let exit = EXEC.wait(&handle).unwrap();
    EXEC.destroy(&handle).unwrap();
    assert_eq!(exit.exit_code, 0);
    assert!(task.stderr().contains("Read-only file system"), "{}", task.stderr());
    assert!(!Path::new("/usr/rove-probe").exists());
    assert_eq!(task.stdout(), "no-opt\n");

    // A chroot of /usr only, its bin and libraries also shown where the shell expects them.
    let entries = [("/usr", "/usr"), ("/usr/bin", "/bin"), ("/usr/lib", "/lib"), ("/usr/lib64", "/lib64")];
    let exec = ExecDriver::new(ChrootEnv::new(entries.map(|(host, inside)| (host.into(), inside.into()))));
    let task = Task::new("custom", &["-c", "ls /"]);
    let handle = exec.start(&task.cfg).unwrap();
    assert_eq!(exec.wait(&handle).unwrap().exit_code, 0, "{}", task.stderr());
    exec.destroy(&handle).unwrap();
    assert_eq!(task.stdout(), "alloc\nbin\ndev\nlib\nlib64\nlocal\nproc\nsecrets\nstderr\nstdout\ntmp\nusr\n");
}

#[test]
fn exit_codes_and_signals_come_through_the_namespace_init() {
    let task = Task::new("code", &["-c", "exit 3"]);
    let handle = EXEC.start(&task.cfg).unwrap();
    let exit = EXEC.wait(&handle).unwrap();
    EXEC.destroy(&handle).unwrap();
    assert_eq!((exit.exit_code, exit.signal, exit.oom_killed), (3, 0, false));

    let task = Task::new("signal", &["-c", "kill -USR1 $$"]);
    let handle = EXEC.start(&task.cfg).unwrap();
    let exit = EXEC.wait(&handle).unwrap();
    EXEC.destroy(&handle).unwrap();
    assert_eq!((exit.exit_code, exit.signal), (128 + 10, 10));

    let mut task = Task::new("missing", &[]);
    task.cfg.config = serde_json::json!({ "command": "/home" });
    let err = EXEC.start(&task.cfg).unwrap_err();
    assert!(err.to_string().contains("/home"), "{err}");
    assert!(!task.dir.join("usr").exists(), "a failed start removes its mount points");

    let mut task = Task::new("no-alloc", &[]);
    task.cfg.alloc_dir = task.alloc.join("missing");
    let err = EXEC.start(&task.cfg).unwrap_err();
    assert!(matches!(err, rove_drivers::DriverError::Chroot(_)), "{err}");
    assert!(err.to_string().contains("missing is not a directory"), "{err}");
}

#[test]
fn stop_kills_every_process_in_the_pid_namespace() {
    // Nothing here dies of SIGTERM (ignored dispositions are inherited).
    let task = Task::new("tree", &["-c", "trap '' TERM; sleep 1000 & setsid sleep 1000 & echo ready; sleep 1000"]);
    let handle = EXEC.start(&task.cfg).unwrap();
    wait_for("ready", || task.stdout() == "ready\n");
    // The supervising child, the namespace's init, the shell and three sleeps.
    wait_for("six processes", || cgroup_pids(&handle).len() == 6);
    let pids = cgroup_pids(&handle);
    let waiter = wait_in_background(&*EXEC, &handle);
    EXEC.stop(&handle, "SIGTERM", Duration::from_millis(300)).unwrap();
    assert_eq!(waiter.join().unwrap().signal, 9, "killed after the timeout");
    wait_for("every process gone", || pids.iter().all(|p| !alive(*p)));
    EXEC.destroy(&handle).unwrap();
}

#[test]
fn cores_pin_the_task_and_stats_report_usage() {
    let cpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32 - 1;
    let mut task = Task::new(
        "pinned",
        &["-c", "grep Cpus_allowed_list /proc/self/status; x=$(head -c 2000000 /dev/zero | tr '\\0' a); sleep 1000"],
    );
    task.cfg.resources.cores = vec![cpu];
    let handle = EXEC.start(&task.cfg).unwrap();
    wait_for("cpus", || !task.stdout().is_empty());
    assert_eq!(task.stdout().split_whitespace().nth(1), Some(cpu.to_string().as_str()), "{}", task.stdout());
    let cpuset = handle.cgroups.iter().map(|d| d.join("cpuset.cpus")).find(|f| f.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(cpuset).unwrap().trim(), cpu.to_string());

    wait_for("the shell's memory", || EXEC.stats(&handle).unwrap().memory_bytes > 2_000_000);
    let stats = EXEC.stats(&handle).unwrap();
    assert!(stats.memory_rss_bytes > 0 && stats.cpu_total_ns > 0, "{stats:?}");
    assert!(stats.cpu_total_ns >= stats.cpu_user_ns, "{stats:?}");
    let later = EXEC.stats(&handle).unwrap();
    assert!(later.cpu_total_ns >= stats.cpu_total_ns && later.collected_at_unix_ns > stats.collected_at_unix_ns);

    let waiter = wait_in_background(&*EXEC, &handle);
    EXEC.stop(&handle, "", Duration::from_secs(2)).unwrap();
    waiter.join().unwrap();
    EXEC.destroy(&handle).unwrap();
    assert!(EXEC.stats(&handle).is_err(), "no usage once the cgroup is gone");
}
