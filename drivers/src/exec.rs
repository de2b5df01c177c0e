//! The exec driver: runs a command in the task directory as an unprivileged user (default
//! `nobody`), in its own cgroup with the task's memory limit and CPU weight.

use crate::cgroup::{self, Cgroup, Limits};
use crate::process::{self, Identity};
use crate::{signal, Driver, DriverError, DriverInfo, ExitResult, TaskConfig, TaskHandle};
use std::time::Duration;

const DEFAULT_USER: &str = "nobody";

pub struct ExecDriver;

impl Driver for ExecDriver {
    fn name(&self) -> &'static str {
        "exec"
    }

    fn fingerprint(&self) -> DriverInfo {
        let mut info = DriverInfo { detected: true, ..DriverInfo::default() };
        if !nix::unistd::geteuid().is_root() {
            info.health_description = "exec needs the agent to run as root".into();
            return info;
        }
        match cgroup::detect() {
            Some(version) => {
                info.healthy = true;
                info.health_description = "Healthy".into();
                let v = if version == cgroup::Version::V2 { "2" } else { "1" };
                info.attributes.insert("cgroup.version".into(), v.into());
            }
            None => info.health_description = "no usable cgroup hierarchy under /sys/fs/cgroup".into(),
        }
        info
    }

    fn start(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        let identity = Identity::lookup(cfg.user.as_deref().unwrap_or(DEFAULT_USER))?;
        let version =
            cgroup::detect().ok_or_else(|| DriverError::Cgroup(std::io::Error::other("no cgroup hierarchy")))?;
        let memory_mb =
            if cfg.resources.memory_max_mb > 0 { cfg.resources.memory_max_mb } else { cfg.resources.memory_mb };
        let limits = Limits { memory_bytes: memory_mb * 1024 * 1024, cpu_mhz: cfg.resources.cpu_mhz };
        let cgroup = Cgroup::create(version, &cfg.id, &limits).map_err(DriverError::Cgroup)?;
        process::spawn(self.name(), cfg, Some(&cgroup), Some(identity)).inspect_err(|_| {
            let _ = cgroup.destroy();
        })
    }

    fn wait(&self, handle: &TaskHandle) -> Result<ExitResult, DriverError> {
        process::wait(handle)
    }

    fn stop(&self, handle: &TaskHandle, signal: &str, timeout: Duration) -> Result<(), DriverError> {
        process::stop(handle, signal::parse(signal)?, timeout)
    }

    fn destroy(&self, handle: &TaskHandle) -> Result<(), DriverError> {
        process::destroy(handle)
    }
}
