//! Docker driver tests against the real Docker Engine on /var/run/docker.sock (run as root).
//! The test image is built here, from busybox-static, and imported into the engine: no
//! registry is needed. Without an engine the tests are skipped loudly, unless
//! `ROVE_REQUIRE_DOCKER` is set (as CI does), in which case they fail.

use rove_drivers::{DockerDriver, DockerOptions, Driver, DriverError, ExitResult, Resources, TaskConfig, TaskHandle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const IMAGE: &str = "rove-test/busybox:latest";
const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &["sh", "echo", "sleep", "cat", "env", "ls", "true", "id"];

/// The driver, or `None` (test skipped) when no engine answers and none is required.
fn driver() -> Option<DockerDriver> {
    let driver = DockerDriver::new(&DockerOptions::default());
    let info = driver.fingerprint();
    if !info.healthy {
        if std::env::var_os("ROVE_REQUIRE_DOCKER").is_some() {
            panic!("ROVE_REQUIRE_DOCKER is set but the docker engine is unusable: {}", info.health_description);
        }
        eprintln!(
            "\n!!! SKIPPING docker driver test: {} (set ROVE_REQUIRE_DOCKER=1 to fail instead)\n",
            info.health_description
        );
        return None;
    }
    test_image();
    Some(driver)
}

/// Runs the docker CLI; panics with its output when it fails.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("running the docker CLI");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Imports the test image (busybox and its applets) unless the engine has it.
fn test_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if Command::new("docker").args(["image", "inspect", IMAGE]).output().is_ok_and(|o| o.status.success()) {
            return;
        }
        assert!(Path::new(BUSYBOX).exists(), "{BUSYBOX} missing: apt-get install busybox-static");
        let root = std::env::temp_dir().join(format!("rove-busybox-{}", std::process::id()));
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tar = root.with_extension("tar");
        let status = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().unwrap();
        assert!(status.success());
        docker(&["import", "--change", "ENV PATH=/bin", tar.to_str().unwrap(), IMAGE]);
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_file(&tar).unwrap();
    });
}

/// An allocation directory laid out as the agent does, with one task, under a directory
/// of allocations of its own.
struct Task {
    /// The allocations directory (the agent's `<data dir>/client/alloc`).
    allocs: PathBuf,
    /// The allocation's directory.
    root: PathBuf,
    cfg: TaskConfig,
}

fn unique(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), fastrand::u32(..))
}

impl Task {
    fn new(name: &str, script: &str) -> Task {
        Task::in_allocs(&std::env::temp_dir().join(format!("rove-docker-{}", unique("allocs"))), name, script)
    }

    fn in_allocs(allocs: &Path, name: &str, script: &str) -> Task {
        let alloc_id = unique(name);
        let root = allocs.join(&alloc_id);
        let task_dir = root.join(name);
        for dir in ["alloc/data", "alloc/logs", "alloc/tmp"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for dir in ["local", "secrets", "tmp"] {
            std::fs::create_dir_all(task_dir.join(dir)).unwrap();
        }
        let env: BTreeMap<String, String> = [
            ("GREETING", "hello".to_string()),
            ("NOMAD_TASK_DIR", task_dir.join("local").display().to_string()),
            ("NOMAD_ALLOC_DIR", root.join("alloc").display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let cfg = TaskConfig {
            id: format!("{alloc_id}-{name}"),
            name: name.into(),
            alloc_id,
            task_dir,
            alloc_dir: root.join("alloc"),
            env,
            config: serde_json::json!({ "image": IMAGE, "command": "/bin/sh", "args": ["-c", script] }),
            user: None,
            resources: Resources { cpu_mhz: 100, memory_mb: 64, ..Resources::default() },
            stdout_path: root.join(format!("alloc/logs/{name}.stdout.0")),
            stderr_path: root.join(format!("alloc/logs/{name}.stderr.0")),
            mounts: Vec::new(),
        };
        Task { allocs: allocs.to_path_buf(), root, cfg }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.cfg.stdout_path).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.cfg.stderr_path).unwrap_or_default()
    }

    /// The ids of the engine's containers (running or not) for this task.
    fn containers(&self) -> Vec<String> {
        let filter = format!("label=rove.task_id={}", self.cfg.id);
        docker(&["ps", "-a", "-q", "--no-trunc", "--filter", &filter]).lines().map(str::to_string).collect()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        for id in self.containers() {
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir(&self.allocs);
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn inspect(handle: &TaskHandle, format: &str) -> String {
    docker(&["inspect", "--format", format, handle.container_id.as_deref().unwrap()])
}

/// Runs `wait` on another thread, as the agent does.
fn wait_in_background(driver: &'static DockerDriver, handle: &TaskHandle) -> std::thread::JoinHandle<ExitResult> {
    let handle = handle.clone();
    std::thread::spawn(move || driver.wait(&handle).unwrap())
}

/// A driver that lives as long as the test process, for waits on other threads.
fn leaked(driver: DockerDriver) -> &'static DockerDriver {
    Box::leak(Box::new(driver))
}

#[test]
fn runs_a_container_with_logs_environment_mounts_and_exit_code() {
    let Some(driver) = driver() else { return };
    let script = "echo $GREETING; echo err >&2; echo $NOMAD_TASK_DIR $NOMAD_ALLOC_DIR; cat /local/note; \
                  echo shared > /alloc/data/out; exit 3";
    let task = Task::new("run", script);
    std::fs::write(task.cfg.task_dir.join("local/note"), "from the host\n").unwrap();
    let handle = driver.start(&task.cfg).unwrap();
    assert_eq!(handle.driver, "docker");
    let exit = driver.wait(&handle).unwrap();
    assert_eq!((exit.exit_code, exit.oom_killed), (3, false), "{exit:?}");
    assert_eq!(task.stdout(), "hello\n/local /alloc\nfrom the host\n");
    assert_eq!(task.stderr(), "err\n");
    assert_eq!(std::fs::read_to_string(task.root.join("alloc/data/out")).unwrap(), "shared\n");
    assert_eq!(inspect(&handle, "{{index .Config.Labels \"com.hashicorp.nomad.task_name\"}}"), "run");
    driver.destroy(&handle).unwrap();
    assert!(task.containers().is_empty(), "container removed after destroy");
    driver.destroy(&handle).unwrap();
}

#[test]
fn entrypoint_work_dir_volumes_and_mounts() {
    let Some(driver) = driver() else { return };
    let mut task = Task::new("mounts", "");
    std::fs::create_dir_all(task.cfg.task_dir.join("shared")).unwrap();
    std::fs::write(task.cfg.task_dir.join("shared/in"), "read only\n").unwrap();
    let script = "pwd; cat /ro/in; echo no > /ro/x 2>/dev/null || echo refused; echo kept > /rw/out; \
                  echo t > /scratch/t && cat /scratch/t";
    task.cfg.config = serde_json::json!({
        "image": IMAGE,
        "entrypoint": ["/bin/sh", "-c"],
        "args": [script],
        "work_dir": "/local",
        "volumes": ["shared:/ro:ro", format!("{}:/rw", task.cfg.task_dir.join("tmp").display())],
        "mount": [{ "type": "tmpfs", "target": "/scratch" }],
    });
    let handle = driver.start(&task.cfg).unwrap();
    assert_eq!(driver.wait(&handle).unwrap().exit_code, 0, "stderr: {}", task.stderr());
    assert_eq!(task.stdout(), "/local\nread only\nrefused\nt\n");
    assert_eq!(std::fs::read_to_string(task.cfg.task_dir.join("tmp/out")).unwrap(), "kept\n");
    driver.destroy(&handle).unwrap();
}

#[test]
fn stop_honours_a_trap_then_kills_after_the_timeout() {
    let Some(driver) = driver() else { return };
    let driver = leaked(driver);
    let loop_forever = "echo ready; while true; do sleep 0.1; done";
    let graceful = Task::new("trap", &format!("trap 'echo bye; exit 0' TERM; {loop_forever}"));
    let handle = driver.start(&graceful.cfg).unwrap();
    wait_for("trap set", || graceful.stdout() == "ready\n");
    let waiter = wait_in_background(driver, &handle);
    driver.stop(&handle, "SIGTERM", Duration::from_secs(10)).unwrap();
    assert_eq!(waiter.join().unwrap().exit_code, 0);
    assert_eq!(graceful.stdout(), "ready\nbye\n");
    driver.destroy(&handle).unwrap();
    assert!(graceful.containers().is_empty());

    let stubborn = Task::new("stubborn", &format!("trap '' TERM; {loop_forever}"));
    let handle = driver.start(&stubborn.cfg).unwrap();
    wait_for("trap set", || stubborn.stdout() == "ready\n");
    let waiter = wait_in_background(driver, &handle);
    let started = Instant::now();
    driver.stop(&handle, "TERM", Duration::from_millis(700)).unwrap();
    assert_eq!(waiter.join().unwrap().exit_code, 137, "SIGKILLed after the timeout");
    assert!(started.elapsed() >= Duration::from_millis(700));
    driver.destroy(&handle).unwrap();
    assert!(stubborn.containers().is_empty(), "container removed after destroy");
}

#[test]
fn resources_ports_and_labels_reach_the_container() {
    let Some(driver) = driver() else { return };
    let mut task = Task::new("limits", "sleep 1000");
    task.cfg.resources = Resources { cpu_mhz: 250, memory_mb: 64, memory_max_mb: 96, ..Resources::default() };
    let host_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    task.cfg.env.insert("NOMAD_PORT_http".into(), "8080".into());
    task.cfg.env.insert("NOMAD_HOST_PORT_http".into(), host_port.clone());
    task.cfg.env.insert("NOMAD_IP_http".into(), "127.0.0.1".into());
    task.cfg.config["ports"] = serde_json::json!(["http"]);
    task.cfg.config["labels"] = serde_json::json!([{ "team": "edge" }]);
    let handle = driver.start(&task.cfg).unwrap();
    assert_eq!(inspect(&handle, "{{.HostConfig.Memory}}"), (96u64 << 20).to_string());
    assert_eq!(inspect(&handle, "{{.HostConfig.MemoryReservation}}"), (64u64 << 20).to_string());
    assert_eq!(inspect(&handle, "{{.HostConfig.CpuShares}}"), "250");
    let binding = inspect(&handle, "{{json .HostConfig.PortBindings}}");
    let binding: serde_json::Value = serde_json::from_str(&binding).unwrap();
    assert_eq!(binding["8080/tcp"], serde_json::json!([{ "HostIp": "127.0.0.1", "HostPort": host_port }]));
    assert_eq!(inspect(&handle, "{{index .Config.Labels \"team\"}}"), "edge");
    assert_eq!(inspect(&handle, "{{index .Config.Labels \"rove.alloc_id\"}}"), task.cfg.alloc_id);
    driver.stop(&handle, "SIGKILL", Duration::from_secs(5)).unwrap();
    driver.wait(&handle).unwrap();
    driver.destroy(&handle).unwrap();
}

#[test]
fn memory_exhaustion_is_reported_as_an_oom_kill() {
    let Some(driver) = driver() else { return };
    let mut task = Task::new("oom", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done");
    task.cfg.resources.memory_mb = 16;
    let handle = driver.start(&task.cfg).unwrap();
    let exit = driver.wait(&handle).unwrap();
    driver.destroy(&handle).unwrap();
    assert!(exit.oom_killed, "expected an OOM kill, got {exit:?}");
    assert_eq!(exit.exit_code, 137);
}

#[test]
fn a_missing_image_is_a_clear_error() {
    let Some(driver) = driver() else { return };
    let mut task = Task::new("noimage", "true");
    task.cfg.config["image"] = "rove-test/no-such-image:1".into();
    let err = driver.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::Image { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("image \"rove-test/no-such-image:1\" is not available: "), "{message}");
    assert!(task.containers().is_empty());

    // force_pull goes to the registry even for an image the engine has: none answers here.
    task.cfg.config["image"] = IMAGE.into();
    task.cfg.config["force_pull"] = true.into();
    task.cfg.config["auth"] = serde_json::json!({ "username": "u", "password": "p" });
    let err = driver.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::Image { .. }), "{err:?}");
    assert!(task.containers().is_empty());
}

#[test]
fn a_fresh_driver_reattaches_from_a_persisted_handle() {
    let Some(first) = driver() else { return };
    let task = Task::new("reattach", "trap 'echo stopping; exit 5' TERM; while true; do sleep 0.1; done");
    let handle = first.start(&task.cfg).unwrap();
    let persisted = serde_json::to_string(&handle).unwrap();
    drop(first);
    // The agent restarts: a new driver, the handle read back from disk.
    let restarted = leaked(DockerDriver::new(&DockerOptions::default()));
    let handle: TaskHandle = serde_json::from_str(&persisted).unwrap();
    assert!(handle.container_id.is_some());
    let waiter = wait_in_background(restarted, &handle);
    std::thread::sleep(Duration::from_millis(300));
    restarted.stop(&handle, "SIGTERM", Duration::from_secs(10)).unwrap();
    assert_eq!(waiter.join().unwrap().exit_code, 5);
    assert!(task.stdout().ends_with("stopping\n"), "output after the restart copied: {:?}", task.stdout());
    DockerDriver::new(&DockerOptions::default()).destroy(&handle).unwrap();
    assert!(task.containers().is_empty());
}

#[test]
fn bad_config_is_refused_before_anything_runs() {
    let Some(driver) = driver() else { return };
    let mut task = Task::new("badcfg", "true");
    task.cfg.config["imagee"] = "typo".into();
    let err = driver.start(&task.cfg).unwrap_err();
    assert_eq!(err.to_string(), "config: unknown setting \"imagee\" for the docker driver");
    let err = rove_drivers::validate_config("docker", &serde_json::json!({ "image": "a", "portz": [] })).unwrap_err();
    assert!(err.to_string().contains("\"portz\""), "{err}");
    assert!(rove_drivers::validate_config("docker", &serde_json::json!({ "image": "a", "ports": ["http"] })).is_ok());

    task.cfg.config = serde_json::json!({ "image": IMAGE, "privileged": true });
    let err = driver.start(&task.cfg).unwrap_err();
    assert!(err.to_string().contains("allow_privileged"), "{err}");
    task.cfg.config = serde_json::json!({ "image": IMAGE, "volumes": ["/etc:/host-etc:ro"] });
    let err = driver.start(&task.cfg).unwrap_err();
    assert!(err.to_string().contains("host path \"/etc\" is outside the allocation directory"), "{err}");
    task.cfg.config = serde_json::json!({ "image": IMAGE, "ports": ["nope"] });
    assert!(driver.start(&task.cfg).unwrap_err().to_string().contains("\"nope\""));
    assert!(task.containers().is_empty());

    let bogus = TaskHandle { driver: "docker".into(), container_id: Some("../../etc".into()), ..TaskHandle::default() };
    assert!(matches!(driver.destroy(&bogus), Err(DriverError::InvalidHandle(_))));
}

#[test]
fn host_volumes_mount_where_enabled() {
    let Some(_) = driver() else { return };
    let driver = DockerDriver::new(&DockerOptions { volumes_enabled: true, ..DockerOptions::default() });
    let mut task = Task::new("hostvol", "ls /host-etc/passwd");
    task.cfg.config["volumes"] = serde_json::json!(["/etc:/host-etc:ro"]);
    let handle = driver.start(&task.cfg).unwrap();
    assert_eq!(driver.wait(&handle).unwrap().exit_code, 0, "{}", task.stderr());
    assert_eq!(task.stdout(), "/host-etc/passwd\n");
    driver.destroy(&handle).unwrap();
}

#[test]
fn privileged_containers_run_where_allowed() {
    let Some(_) = driver() else { return };
    let driver = DockerDriver::new(&DockerOptions { allow_privileged: true, ..DockerOptions::default() });
    let mut task = Task::new("priv", "true");
    task.cfg.config["privileged"] = true.into();
    match driver.start(&task.cfg) {
        Ok(handle) => {
            assert_eq!(inspect(&handle, "{{.HostConfig.Privileged}}"), "true");
            assert_eq!(driver.wait(&handle).unwrap().exit_code, 0);
            driver.destroy(&handle).unwrap();
        }
        // An engine that itself runs in a container may lack the capabilities to give:
        // the driver asked, the runtime refused, and the container that did not start
        // is gone.
        Err(DriverError::Docker(e)) if e.to_string().contains("OCI runtime") => {
            eprintln!("note: this engine cannot start privileged containers: {e}");
            assert!(task.containers().is_empty(), "a container that did not start is removed");
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn an_image_tarball_is_loaded_from_the_task_dir() {
    static SAVING: Mutex<()> = Mutex::new(());
    let Some(driver) = driver() else { return };
    let mut task = Task::new("load", "echo loaded");
    let image = format!("rove-test/loadable:{}", fastrand::u32(..));
    {
        let _one_at_a_time = SAVING.lock().unwrap();
        docker(&["tag", IMAGE, &image]);
        docker(&["save", "-o", task.cfg.task_dir.join("local/image.tar").to_str().unwrap(), &image]);
        docker(&["rmi", &image]);
    }
    task.cfg.config["image"] = image.clone().into();
    task.cfg.config["load"] = "local/image.tar".into();
    let handle = driver.start(&task.cfg).unwrap();
    assert_eq!(driver.wait(&handle).unwrap().exit_code, 0);
    assert_eq!(task.stdout(), "loaded\n");
    driver.destroy(&handle).unwrap();
    docker(&["rmi", &image]);

    task.cfg.config["load"] = "local/missing.tar".into();
    let err = driver.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::Load { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.tar"), "{err}");
}

#[test]
fn untracked_containers_are_cleaned_up() {
    let Some(driver) = driver() else { return };
    let kept = Task::new("kept", "sleep 1000");
    let orphan = Task::in_allocs(&kept.allocs, "orphan", "sleep 1000");
    let elsewhere = Task::new("elsewhere", "sleep 1000");
    let kept_handle = driver.start(&kept.cfg).unwrap();
    let orphan_handle = driver.start(&orphan.cfg).unwrap();
    let elsewhere_handle = driver.start(&elsewhere.cfg).unwrap();
    let removed = driver.cleanup_untracked(&kept.allocs, std::slice::from_ref(&kept.cfg.alloc_id)).unwrap();
    assert_eq!(removed, [orphan_handle.container_id.clone().unwrap()]);
    assert!(orphan.containers().is_empty());
    assert_eq!(kept.containers().len(), 1, "a tracked allocation's container stays");
    assert_eq!(elsewhere.containers().len(), 1, "another agent's container stays");
    driver.destroy(&kept_handle).unwrap();
    driver.destroy(&elsewhere_handle).unwrap();
    let process_drivers =
        rove_drivers::all_drivers(true, rove_drivers::ChrootEnv::default(), &DockerOptions::default());
    assert!(process_drivers[0].cleanup_untracked(&kept.allocs, &[]).unwrap().is_empty());
}

#[test]
fn a_leftover_container_of_the_same_task_is_replaced() {
    let Some(driver) = driver() else { return };
    let task = Task::new("leftover", "echo started; sleep 1000");
    let old = driver.start(&task.cfg).unwrap();
    // The agent crashed and runs the allocation again: a new driver starts the same task.
    let again = DockerDriver::new(&DockerOptions::default());
    let new = again.start(&task.cfg).unwrap();
    assert_ne!(old.container_id, new.container_id);
    assert_eq!(task.containers(), [new.container_id.clone().unwrap()]);
    again.stop(&new, "SIGKILL", Duration::ZERO).unwrap();
    again.wait(&new).unwrap();
    again.destroy(&new).unwrap();
}

#[test]
fn fingerprint_reports_the_engine() {
    let Some(driver) = driver() else { return };
    let info = driver.fingerprint();
    assert!(info.detected && info.healthy, "{info:?}");
    assert_eq!(info.attributes["os_type"], "linux");
    assert!(!info.attributes["version"].is_empty());
    let absent = DockerDriver::new(&DockerOptions {
        endpoint: "unix:///nonexistent/docker.sock".into(),
        ..DockerOptions::default()
    });
    let info = absent.fingerprint();
    assert!(!info.detected && !info.healthy);
    assert!(info.health_description.contains("/nonexistent/docker.sock"), "{info:?}");
    let tcp = DockerDriver::new(&DockerOptions { endpoint: "tcp://127.0.0.1:2375".into(), ..DockerOptions::default() });
    assert!(tcp.fingerprint().health_description.contains("unsupported docker endpoint"));
}

#[test]
fn a_busy_container_reports_its_usage() {
    let Some(driver) = driver() else { return };
    let task = Task::new("busy", "while :; do :; done");
    let handle = driver.start(&task.cfg).unwrap();
    let first = driver.stats(&handle).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let second = driver.stats(&handle).unwrap();
    assert!(second.memory_bytes > 0, "{second:?}");
    assert!(second.cpu_total_ns > first.cpu_total_ns, "the loop used CPU: {first:?} then {second:?}");
    assert!(second.collected_at_unix_ns > first.collected_at_unix_ns);
    driver.stop(&handle, "SIGKILL", Duration::from_secs(5)).unwrap();
    driver.wait(&handle).unwrap();
    driver.destroy(&handle).unwrap();
}
