//! The raw_exec driver: runs a command with no isolation, as the agent's user unless the
//! task names one. It still gets its own cgroup where one can be made (no limits, only
//! tracking), so stopping it kills every process it started, even those that left its
//! process group; without cgroups, stopping kills the process group.

use crate::cgroup::{self, Cgroup, Limits};
use crate::process::{CommandConfig, Identity, Launcher, Prepared};
use crate::{DriverError, DriverInfo, TaskConfig};

/// The `raw_exec` driver. Always healthy; whether it is offered is the agent's choice.
pub struct RawExecDriver;

impl Launcher for RawExecDriver {
    const NAME: &'static str = "raw_exec";

    fn health(&self) -> DriverInfo {
        DriverInfo { detected: true, healthy: true, health_description: "Healthy".into(), ..DriverInfo::default() }
    }

    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError> {
        let command = CommandConfig::parse(&cfg.config)?;
        let identity = cfg.user.as_deref().map(Identity::lookup).transpose()?;
        let cgroup = match cgroup::detect() {
            Some(version) if nix::unistd::geteuid().is_root() => Cgroup::create(version, &cfg.id, &Limits::default())
                .inspect_err(|e| log::warn!("raw_exec: no cgroup for task {}, using its process group: {e}", cfg.id))
                .ok(),
            _ => None,
        };
        Ok(Prepared { command, cgroup, identity, isolation: None })
    }
}
