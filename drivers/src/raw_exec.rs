//! The raw_exec driver: runs a command with no isolation, as the agent's user unless the
//! task names one. It still gets its own cgroup where one can be made, so stopping it
//! kills every process it started, even those that left its session.

use crate::cgroup::{self, Cgroup, Limits};
use crate::process::{Identity, Launcher, Prepared};
use crate::{DriverError, DriverInfo, TaskConfig};

pub struct RawExecDriver;

impl Launcher for RawExecDriver {
    const NAME: &'static str = "raw_exec";

    fn health(&self) -> DriverInfo {
        DriverInfo { detected: true, healthy: true, health_description: "Healthy".into(), ..DriverInfo::default() }
    }

    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError> {
        let identity = cfg.user.as_deref().map(Identity::lookup).transpose()?;
        // No memory limit for raw_exec: the cgroup only tracks the process tree.
        let limits = Limits { memory_bytes: u64::MAX / 2, cpu_mhz: cfg.resources.cpu_mhz };
        let cgroup = match cgroup::detect() {
            Some(version) if nix::unistd::geteuid().is_root() => Cgroup::create(version, &cfg.id, &limits).ok(),
            _ => None,
        };
        Ok(Prepared { cgroup, identity })
    }
}
