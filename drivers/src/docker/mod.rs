//! The docker driver: runs each task in a container of the local Docker Engine, talked to
//! over its unix socket. The task handle carries the container id, so a fresh driver (an
//! agent restarted) can wait for, stop and remove containers an earlier one started.
//! Containers carry the `rove.allocs_root`, `rove.alloc_id` and `rove.task_id` labels,
//! which is how `cleanup_untracked` finds those of an agent that nothing tracks any more.

mod config;
mod container;
mod engine;
mod exec;
mod image;
mod logs;
mod stats;

pub use config::DockerConfig;
pub use engine::EngineError;

use crate::{signal, Driver, DriverError, DriverInfo, ExitResult, TaskConfig, TaskHandle, TaskStats};
use engine::{query, Engine, Payload};
use serde_json::json;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The engine's socket unless the agent config names another.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";
/// How long a fingerprint waits for the engine.
const FINGERPRINT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `wait` lets the log copier finish once the container stopped.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The node-level settings of the docker driver (`plugin "docker" { config { ... } }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerOptions {
    /// The engine's address: `unix:///path/to/docker.sock`.
    pub endpoint: String,
    /// Whether tasks may ask for privileged containers.
    pub allow_privileged: bool,
    /// Whether tasks may bind host paths outside their allocation directory
    /// (`volumes { enabled = true }`).
    pub volumes_enabled: bool,
}

impl Default for DockerOptions {
    fn default() -> DockerOptions {
        DockerOptions { endpoint: DEFAULT_ENDPOINT.to_string(), allow_privileged: false, volumes_enabled: false }
    }
}

/// The `docker` driver.
pub struct DockerDriver {
    engine: Arc<Engine>,
    allow_privileged: bool,
    volumes_enabled: bool,
    /// Containers whose logs this instance copies, with the copier's end signal.
    log_copiers: Mutex<HashMap<String, mpsc::Receiver<()>>>,
}

impl DockerDriver {
    /// A driver for the engine `options` name; nothing is connected until used.
    pub fn new(options: &DockerOptions) -> DockerDriver {
        DockerDriver {
            engine: Arc::new(Engine::new(&options.endpoint)),
            allow_privileged: options.allow_privileged,
            volumes_enabled: options.volumes_enabled,
            log_copiers: Mutex::new(HashMap::new()),
        }
    }

    /// Force-removes a container; one already gone is fine.
    async fn remove(&self, id: &str) -> Result<(), DriverError> {
        match self.engine.call("DELETE", &format!("/containers/{id}?force=1&v=1"), Payload::Empty).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()).map_err(DriverError::Docker),
        }
    }

    /// Creates the task's container. A container of the same task left behind (by an agent
    /// that crashed, or a restart whose cleanup failed) is removed first: an allocation
    /// runs on one node, and its agent starts a task only when it runs no copy of it.
    async fn create(&self, cfg: &TaskConfig, body: &serde_json::Value) -> Result<String, DriverError> {
        let name = container::name(cfg);
        let path = format!("/containers/create?{}", query(&[("name", &name)]));
        let created = match self.engine.call("POST", &path, Payload::Json(body)).await {
            Err(e) if e.is_conflict() => {
                let old = self.engine.call("GET", &format!("/containers/{name}/json"), Payload::Empty).await?;
                let ours = old["Config"]["Labels"][container::TASK_LABEL].as_str() == Some(cfg.id.as_str());
                if !ours {
                    return Err(DriverError::Docker(e));
                }
                log::info!("docker: removing leftover container {name} of task {}", cfg.id);
                self.remove(old["Id"].as_str().unwrap_or(&name)).await?;
                self.engine.call("POST", &path, Payload::Json(body)).await?
            }
            other => other?,
        };
        for warning in created["Warnings"].as_array().into_iter().flatten() {
            log::warn!("docker: creating container for task {}: {warning}", cfg.id);
        }
        created["Id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DriverError::Docker(EngineError::Http(format!("no container id in {created}"))))
    }

    /// Pulls or loads the image, then creates and starts the container; returns its id
    /// and main process. A container that does not start is removed.
    async fn run(
        &self,
        cfg: &TaskConfig,
        config: &DockerConfig,
        progress: &crate::Progress,
    ) -> Result<(String, i32), DriverError> {
        let body = container::create_body(cfg, config)?;
        image::ensure(&self.engine, cfg, config, progress).await?;
        let id = self.create(cfg, &body).await?;
        let started = async {
            self.engine.call("POST", &format!("/containers/{id}/start"), Payload::Empty).await?;
            self.engine.call("GET", &format!("/containers/{id}/json"), Payload::Empty).await
        };
        match started.await {
            Ok(inspect) => Ok((id, inspect["State"]["Pid"].as_i64().unwrap_or(0) as i32)),
            Err(e) => {
                if let Err(cleanup) = self.remove(&id).await {
                    log::warn!("docker: removing container {} that did not start: {cleanup}", logs::short(&id));
                }
                Err(DriverError::Docker(e))
            }
        }
    }

    /// Starts copying the container's logs unless this instance already does; `since`
    /// (Unix seconds) skips what an earlier agent already copied.
    fn copy_logs(&self, id: &str, stdout: &Path, stderr: &Path, since: Option<u64>) -> Result<(), DriverError> {
        let mut copiers = self.log_copiers.lock().unwrap_or_else(|e| e.into_inner());
        if copiers.contains_key(id) {
            return Ok(());
        }
        let files = logs::LogFiles { stdout: open_log(stdout)?, stderr: open_log(stderr)? };
        copiers.insert(id.to_string(), logs::follow(self.engine.clone(), id.to_string(), since, files));
        Ok(())
    }

    /// Blocks until the container stopped; its exit code.
    /// Sends a signal to the container; one that is not running (409) or gone (404) has
    /// nothing to signal.
    async fn kill(&self, id: &str, signal: &str) -> Result<(), DriverError> {
        let path = format!("/containers/{id}/kill?{}", query(&[("signal", signal)]));
        match self.engine.call("POST", &path, Payload::Empty).await {
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
            other => other.map(|_| ()).map_err(|e| DriverError::Signal(e.to_string())),
        }
    }

    async fn wait_exit(&self, id: &str) -> Result<i64, EngineError> {
        let mut waited = self.engine.stream("POST", &format!("/containers/{id}/wait"), &[], Payload::Empty).await?;
        let body = waited.collect().await?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|source| EngineError::Decode { path: format!("/containers/{id}/wait"), source })?;
        if let Some(message) = answer["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
            return Err(EngineError::Stream(message.to_string()));
        }
        Ok(answer["StatusCode"].as_i64().unwrap_or(-1))
    }
}

/// The container id of a handle this driver returned.
fn container_id(handle: &TaskHandle) -> Result<&str, DriverError> {
    if handle.driver != "docker" {
        return Err(DriverError::InvalidHandle(format!("started by {:?}, not \"docker\"", handle.driver)));
    }
    match handle.container_id.as_deref() {
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(id),
        other => Err(DriverError::InvalidHandle(format!("container id {other:?}"))),
    }
}

fn open_log(path: &Path) -> Result<std::fs::File, DriverError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| DriverError::Logs { path: path.to_path_buf(), source })
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Driver for DockerDriver {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn fingerprint(&self) -> DriverInfo {
        let undetected = |why: String| DriverInfo { health_description: why, ..DriverInfo::default() };
        let socket = match self.engine.socket() {
            Ok(socket) => socket,
            Err(e) => return undetected(e.to_string()),
        };
        if !socket.exists() {
            return undetected(format!("no docker engine: {} does not exist", socket.display()));
        }
        let version = smol::block_on(smol::future::or(self.engine.version(), async {
            smol::Timer::after(FINGERPRINT_TIMEOUT).await;
            Err(EngineError::Timeout("GET /version".into()))
        }));
        let version = match version {
            Ok(version) => version,
            Err(e) => {
                return DriverInfo {
                    detected: true,
                    health_description: format!("docker engine at {} is not answering: {e}", socket.display()),
                    ..DriverInfo::default()
                }
            }
        };
        let mut attributes: std::collections::BTreeMap<String, String> =
            [("version", "Version"), ("os_type", "Os"), ("arch", "Arch"), ("api_version", "ApiVersion")]
                .into_iter()
                .filter_map(|(key, field)| Some((key.to_string(), version[field].as_str()?.to_string())))
                .collect();
        attributes.insert("privileged.enabled".into(), self.allow_privileged.to_string());
        attributes.insert("volumes.enabled".into(), self.volumes_enabled.to_string());
        DriverInfo { detected: true, healthy: true, health_description: "Healthy".into(), attributes }
    }

    fn start(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        self.start_with_progress(cfg, &|_| {})
    }

    fn start_with_progress(&self, cfg: &TaskConfig, progress: &crate::Progress) -> Result<TaskHandle, DriverError> {
        let config = DockerConfig::parse(&cfg.config)?;
        if config.privileged && !self.allow_privileged {
            return Err(DriverError::Config(
                "privileged containers are not allowed on this node (docker plugin option allow_privileged)".into(),
            ));
        }
        if !self.volumes_enabled {
            container::check_host_paths(cfg, &config)?;
        }
        // Log files are checked before anything is created.
        open_log(&cfg.stdout_path)?;
        open_log(&cfg.stderr_path)?;
        let started_at = unix_now();
        let (id, pid) = smol::block_on(self.run(cfg, &config, progress))?;
        log::info!("docker: task {} runs in container {}", cfg.id, logs::short(&id));
        if let Err(e) = self.copy_logs(&id, &cfg.stdout_path, &cfg.stderr_path, None) {
            let _ = smol::block_on(self.remove(&id));
            return Err(e);
        }
        Ok(TaskHandle {
            driver: "docker".into(),
            pid,
            cgroups: Vec::new(),
            started_at_unix_ms: started_at.as_millis() as u64,
            container_id: Some(id),
            log_paths: Some((cfg.stdout_path.clone(), cfg.stderr_path.clone())),
            ..TaskHandle::default()
        })
    }

    fn wait(&self, handle: &TaskHandle) -> Result<ExitResult, DriverError> {
        let id = container_id(handle)?;
        // A handle from an earlier agent: copy what the container writes from now on.
        if let Some((stdout, stderr)) = &handle.log_paths {
            self.copy_logs(id, stdout, stderr, Some(unix_now().as_secs()))?;
        }
        let exit_code = smol::block_on(self.wait_exit(id)).map_err(|e| DriverError::Wait(e.to_string()))?;
        let inspect = smol::block_on(self.engine.call("GET", &format!("/containers/{id}/json"), Payload::Empty));
        let oom_killed = inspect.as_ref().is_ok_and(|i| i["State"]["OOMKilled"].as_bool() == Some(true));
        let copier = self.log_copiers.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        if let Some(done) = copier {
            let _ = done.recv_timeout(LOG_DRAIN_TIMEOUT);
        }
        // The engine reports an exit code only (128 + n after signal n), as Nomad passes on.
        Ok(ExitResult { exit_code: exit_code as i32, signal: 0, oom_killed, err: None })
    }

    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        let id = container_id(handle)?;
        let signal = signal::parse(signal)?;
        smol::block_on(self.kill(id, signal.as_str()))
    }

    fn stop(&self, handle: &TaskHandle, signal: &str, timeout: Duration) -> Result<(), DriverError> {
        let id = container_id(handle)?;
        let signal = signal::parse(signal)?;
        smol::block_on(async {
            let kill = |signal: &'static str| self.kill(id, signal);
            kill(signal.as_str()).await?;
            let stopped = async {
                match self.wait_exit(id).await {
                    Err(e) if !e.is_not_found() => smol::future::pending().await,
                    _ => true,
                }
            };
            let expired = async {
                smol::Timer::after(timeout).await;
                false
            };
            if !smol::future::or(stopped, expired).await {
                kill("SIGKILL").await?;
            }
            Ok(())
        })
    }

    fn exec(&self, handle: &TaskHandle, request: &crate::ExecRequest) -> Result<crate::ExecOutput, DriverError> {
        let id = container_id(handle)?;
        smol::block_on(exec::run(&self.engine, id, request))
    }

    fn stats(&self, handle: &TaskHandle) -> Result<TaskStats, DriverError> {
        let id = container_id(handle)?;
        let answer = smol::block_on(self.engine.call(
            "GET",
            &format!("/containers/{id}/stats?stream=false&one-shot=true"),
            Payload::Empty,
        ))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Ok(stats::from_engine(&answer, now))
    }

    fn destroy(&self, handle: &TaskHandle) -> Result<(), DriverError> {
        let id = container_id(handle)?;
        self.log_copiers.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        smol::block_on(self.remove(id))
    }

    fn cleanup_untracked(&self, allocs_root: &Path, tracked_allocs: &[String]) -> Result<Vec<String>, DriverError> {
        smol::block_on(async {
            let root = format!("{}={}", container::ALLOCS_ROOT_LABEL, allocs_root.display());
            let filters = json!({ "label": [root] }).to_string();
            let path = format!("/containers/json?{}", query(&[("all", "1"), ("filters", &filters)]));
            let listed = self.engine.call("GET", &path, Payload::Empty).await?;
            let mut removed = Vec::new();
            for c in listed.as_array().into_iter().flatten() {
                let alloc = c["Labels"][container::ALLOC_LABEL].as_str().unwrap_or_default();
                let Some(id) = c["Id"].as_str() else { continue };
                if tracked_allocs.iter().any(|a| a == alloc) {
                    continue;
                }
                log::info!("docker: removing container {} of untracked allocation {alloc:?}", logs::short(id));
                self.remove(id).await?;
                removed.push(id.to_string());
            }
            Ok(removed)
        })
    }
}
