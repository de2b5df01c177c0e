//! The exec driver: runs a command in the task directory as an unprivileged user (default
//! `nobody`), in its own cgroup with the task's memory limit and CPU weight.

use crate::cgroup::{self, Cgroup, Limits};
use crate::process::{Identity, Launcher, Prepared};
use crate::{DriverError, DriverInfo, TaskConfig};

const DEFAULT_USER: &str = "nobody";

/// The `exec` driver. Needs root and a cgroup hierarchy with the memory controller.
pub struct ExecDriver;

impl Launcher for ExecDriver {
    const NAME: &'static str = "exec";

    fn health(&self) -> DriverInfo {
        let undetected = |why: &str| DriverInfo { health_description: why.into(), ..DriverInfo::default() };
        if !nix::unistd::geteuid().is_root() {
            return undetected("exec needs the agent to run as root");
        }
        let Some(version) = cgroup::detect() else {
            return undetected("no cgroup hierarchy with the memory controller under /sys/fs/cgroup");
        };
        DriverInfo {
            detected: true,
            healthy: true,
            health_description: "Healthy".into(),
            attributes: [("cgroup.version".to_string(), version.as_str().to_string())].into(),
        }
    }

    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError> {
        let identity = Identity::lookup(cfg.user.as_deref().unwrap_or(DEFAULT_USER))?;
        let version = cgroup::detect().ok_or(DriverError::NoCgroups)?;
        let r = &cfg.resources;
        let memory_mb = if r.memory_max_mb > 0 { r.memory_max_mb } else { r.memory_mb };
        let limits = Limits {
            memory_bytes: (memory_mb > 0).then_some(memory_mb * 1024 * 1024),
            cpu_shares: (r.cpu_mhz > 0).then_some(r.cpu_mhz),
        };
        let cgroup = Cgroup::create(version, &cfg.id, &limits).map_err(DriverError::Cgroup)?;
        Ok(Prepared { cgroup: Some(cgroup), identity: Some(identity) })
    }
}
