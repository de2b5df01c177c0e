//! Test harness: starts real `rove` agents on free loopback ports, runs the CLI against
//! them, and talks to their HTTP API.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod faults;
pub mod servers;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rove");

/// The client block that makes an agent stop its tasks when it shuts down.
pub const DRAIN_ON_SHUTDOWN: &str = "client {\n  drain_on_shutdown {}\n}\n";

/// A group's `restart` and `reschedule` blocks that give a failed task no second try.
pub const NO_RETRIES: &str = "    restart {\n      attempts = 0\n      mode     = \"fail\"\n    }\n    reschedule {\n      attempts  = 0\n      unlimited = false\n    }\n";

/// A batch job `name` whose group "g" runs one raw_exec task "t", `/bin/sh -c script`, with
/// `group_extra` and `task_extra` (whole stanzas, newline-terminated) added to the group and task.
pub fn batch_shell_job(name: &str, group_extra: &str, task_extra: &str, script: &str) -> String {
    format!(
        "job \"{name}\" {{\n  type = \"batch\"\n  group \"g\" {{\n{group_extra}    task \"t\" {{\n      driver = \"raw_exec\"\n{task_extra}      config {{\n        command = \"/bin/sh\"\n        args = [\"-c\", \"{script}\"]\n      }}\n    }}\n  }}\n}}\n"
    )
}

/// A unique scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("rove-test-{name}-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running agent process.
pub struct Agent {
    pub child: Option<Child>,
    pub http_port: u16,
    pub rpc_port: u16,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

impl Agent {
    /// Writes a config with fresh ports and starts `rove agent` with it and `extra_args`.
    /// The agent stops its tasks when it shuts down (`drain_on_shutdown`), so a test
    /// leaves no task behind; see [`Agent::start_keeping_tasks`].
    pub fn start(dir: &Path, name: &str, extra_config: &str, extra_args: &[&str]) -> Agent {
        let config = format!(
            "{extra_config}
{DRAIN_ON_SHUTDOWN}"
        );
        Agent::start_on(dir, name, [free_port(), free_port(), free_port()], &config, extra_args)
    }

    /// Like [`Agent::start`], with the default shutdown: the tasks keep running.
    pub fn start_keeping_tasks(dir: &Path, name: &str, extra_config: &str, extra_args: &[&str]) -> Agent {
        Agent::start_on(dir, name, [free_port(), free_port(), free_port()], extra_config, extra_args)
    }

    /// Like [`Agent::start`] on given HTTP, RPC and serf ports.
    pub fn start_on(dir: &Path, name: &str, ports: [u16; 3], extra_config: &str, extra_args: &[&str]) -> Agent {
        let [http_port, rpc_port, serf_port] = ports;
        let data_dir = dir.join(format!("{name}-data"));
        let config_path = dir.join(format!("{name}.hcl"));
        let config = format!(
            "name = \"{name}\"\nbind_addr = \"127.0.0.1\"\nports {{\n  http = {http_port}\n  rpc = {rpc_port}\n  serf = {serf_port}\n}}\n{extra_config}\n"
        );
        std::fs::write(&config_path, config).unwrap();
        let mut agent = Agent {
            child: None,
            http_port,
            rpc_port,
            data_dir,
            config_path,
            log_path: dir.join(format!("{name}.log")),
        };
        agent.spawn(extra_args);
        agent
    }

    /// A dev agent (server and client in one) with a persistent data dir.
    pub fn dev(dir: &Path) -> Agent {
        let agent = Agent::start(dir, "dev", "", &["-dev"]);
        agent.wait_ready();
        agent
    }

    fn spawn(&mut self, extra_args: &[&str]) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).unwrap();
        let mut args = vec!["agent".to_string(), "-config".into(), self.config_path.display().to_string()];
        args.push("-data-dir".into());
        args.push(self.data_dir.display().to_string());
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let child = Command::new(BIN)
            .args(&args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rove agent");
        self.child = Some(child);
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Waits until the API answers and a node is ready.
    pub fn wait_ready(&self) {
        wait_until(Duration::from_secs(30), "agent to become ready", || {
            let (status, body) = self.try_get("/v1/nodes").ok()?;
            (status == 200 && body.as_array()?.iter().any(|n| n["Status"] == "ready")).then_some(())
        });
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGINT and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("agent running");
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("agent did not shut down within 30s\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the agent with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent again with the same config, ports and data dir.
    pub fn restart(&mut self, extra_args: &[&str]) {
        self.spawn(extra_args);
    }

    pub fn try_get(&self, path: &str) -> std::io::Result<(u16, Value)> {
        let (status, body) = http(self.http_port, "GET", path, None)?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.try_get(path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(status, 200, "GET {path} answered {status}: {body}");
        body
    }

    /// Runs the CLI against this agent.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN).args(args).env("NOMAD_ADDR", self.address()).env_remove("ROVE_ADDR").output().unwrap()
    }

    /// Runs the CLI and requires success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "rove {args:?} failed ({:?}):\nstdout: {}\nstderr: {}\nagent log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn allocs(&self, job: &str) -> Vec<Value> {
        self.get(&format!("/v1/job/{job}/allocations")).as_array().cloned().unwrap_or_default()
    }

    /// Runs the job file `hcl` (written to `dir/<job>.hcl`) and waits until one of its
    /// allocations runs; returns that allocation's ID.
    pub fn run_until_running(&self, dir: &Path, job: &str, hcl: &str) -> String {
        self.cli_ok(&["job", "run", "-detach", &job_file(dir, &format!("{job}.hcl"), hcl)]);
        let running = |a: &Value| a["ClientStatus"] == "running";
        let allocs = self.wait_allocs(job, "an allocation running", |a| a.iter().any(running));
        allocs.iter().find(|a| running(a)).unwrap()["ID"].as_str().unwrap().to_string()
    }

    /// Waits until `pred` holds for the job's allocations, then returns them.
    pub fn wait_allocs(&self, job: &str, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        wait_until(Duration::from_secs(60), what, || {
            let allocs = self.allocs(job);
            pred(&allocs).then_some(allocs)
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && self.child.as_mut().unwrap().try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            self.kill();
        }
        // Tasks outlive their agent by design; a finished test leaves none behind.
        let Ok(allocs) = std::fs::read_dir(self.data_dir.join("client/alloc")) else { return };
        for alloc in allocs.flatten() {
            drop(KillOnDrop(format!("executor {}", alloc.file_name().to_string_lossy())));
        }
    }
}

/// Time from submitting the job `json` (whose ID is `id`) to its allocation reported
/// running, following the allocations with blocking queries.
pub fn time_to_running(agent: &Agent, id: &str, json: &str) -> Duration {
    let started = Instant::now();
    let (status, body) = http(agent.http_port, "PUT", "/v1/jobs", Some(json.as_bytes())).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let mut index = 0u64;
    loop {
        let path = format!("/v1/job/{id}/allocations?index={index}&wait=10s");
        let (_, body) = http(agent.http_port, "GET", &path, None).unwrap();
        let allocs: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let allocs = allocs.as_array().cloned().unwrap_or_default();
        if allocs.iter().any(|a| a["ClientStatus"] == "running") {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "job {id} not running after 2 minutes: {allocs:?}");
        index = allocs.iter().map(|a| a["ModifyIndex"].as_u64().unwrap_or(0)).max().unwrap_or(0);
    }
}

/// A process's resident set size in KiB.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 exchange: returns the status and the body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&[u8]>) -> std::io::Result<(u16, Vec<u8>)> {
    http_with_headers(port, method, path, body).map(|(status, _, body)| (status, body))
}

/// Response headers, names lowercased.
pub type Headers = Vec<(String, String)>;

/// An HTTP/1.1 exchange that also returns the response headers.
pub fn http_with_headers(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> std::io::Result<(u16, Headers, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, raw[split + 4..].to_vec()))
}

/// Writes a job file into `dir` and returns its path.
pub fn job_file(dir: &Path, name: &str, hcl: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, hcl).unwrap();
    path.display().to_string()
}

/// The processes (other than this one) whose command line contains `marker`.
pub fn pids_matching(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let matches = String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(marker);
            (matches && pid != std::process::id() as i32).then_some(pid)
        })
        .collect()
}

/// Whether a process whose command line contains `marker` is running.
pub fn process_running(marker: &str) -> bool {
    !pids_matching(marker).is_empty()
}

/// The parent of a process, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Kills, when dropped, every process whose command line contains the marker, and all
/// their descendants.
pub struct KillOnDrop(pub String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let mut doomed = pids_matching(&self.0);
        let all: Vec<i32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
            .collect();
        loop {
            let before = doomed.len();
            for pid in &all {
                if !doomed.contains(pid) && parent_of(*pid).is_some_and(|p| doomed.contains(&p)) {
                    doomed.push(*pid);
                }
            }
            if doomed.len() == before {
                break;
            }
        }
        for pid in doomed {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Removes the cgroups of an allocation's tasks, left behind when its agent was killed.
pub fn remove_task_cgroups(alloc_id: &str) {
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    for controller in controllers.flatten() {
        for parent in [controller.path().join("rove"), controller.path()] {
            let Ok(entries) = std::fs::read_dir(&parent) else { continue };
            for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(alloc_id)) {
                // Killed processes leave the cgroup a moment after the signal.
                for _ in 0..100 {
                    if std::fs::remove_dir(entry.path()).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// The docker test image (busybox from busybox-static, imported into the local engine
/// once), or `None` when no engine answers and `ROVE_REQUIRE_DOCKER` is unset: the caller
/// then skips, loudly. With `ROVE_REQUIRE_DOCKER` set, a missing engine fails the test.
pub fn docker_test_image() -> Option<&'static str> {
    const IMAGE: &str = "rove-test/busybox:2";
    let docker = |args: &[&str]| Command::new("docker").args(args).output().is_ok_and(|o| o.status.success());
    if !docker(&["version"]) {
        assert!(
            std::env::var_os("ROVE_REQUIRE_DOCKER").is_none(),
            "ROVE_REQUIRE_DOCKER is set but docker is not answering"
        );
        eprintln!("\n!!! SKIPPING docker test: no docker engine answers (set ROVE_REQUIRE_DOCKER=1 to fail instead)\n");
        return None;
    }
    if docker(&["image", "inspect", IMAGE]) {
        return Some(IMAGE);
    }
    let root = std::env::temp_dir().join(format!("rove-test-busybox-{}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("/bin/busybox (apt-get install busybox-static)");
    for applet in ["sh", "echo", "sleep", "cat", "env", "ls", "true", "id", "mkdir", "httpd"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = root.with_extension("tar");
    assert!(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
    assert!(docker(&["import", "--change", "ENV PATH=/bin", tar.to_str().unwrap(), IMAGE]), "importing {IMAGE}");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&tar);
    Some(IMAGE)
}
