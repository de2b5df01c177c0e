//! The raw_exec driver: runs a command with no isolation, as the agent's user unless the
//! task names one. It still gets its own cgroup where one can be made, so stopping it
//! kills every process it started, even those that left its session.

use crate::cgroup::{self, Cgroup, Limits};
use crate::process::{self, Identity};
use crate::{signal, Driver, DriverError, DriverInfo, ExitResult, TaskConfig, TaskHandle};
use std::time::Duration;

pub struct RawExecDriver;

impl Driver for RawExecDriver {
    fn name(&self) -> &'static str {
        "raw_exec"
    }

    fn fingerprint(&self) -> DriverInfo {
        DriverInfo { detected: true, healthy: true, health_description: "Healthy".into(), ..DriverInfo::default() }
    }

    fn start(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        let identity = cfg.user.as_deref().map(Identity::lookup).transpose()?;
        // No memory limit for raw_exec: the cgroup only tracks the process tree.
        let limits = Limits { memory_bytes: u64::MAX / 2, cpu_mhz: cfg.resources.cpu_mhz };
        let cgroup = match cgroup::detect() {
            Some(version) if nix::unistd::geteuid().is_root() => Cgroup::create(version, &cfg.id, &limits).ok(),
            _ => None,
        };
        process::spawn(self.name(), cfg, cgroup.as_ref(), identity).inspect_err(|_| {
            if let Some(cgroup) = &cgroup {
                let _ = cgroup.destroy();
            }
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
