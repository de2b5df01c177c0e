//! The exec driver: runs a command in the task directory as an unprivileged user (default
//! `nobody`), in its own cgroup with the task's memory limit and CPU weight.

use crate::cgroup::{self, Cgroup, Limits};
use crate::process::{Identity, Launcher, Prepared};
use crate::{DriverError, DriverInfo, TaskConfig};

const DEFAULT_USER: &str = "nobody";

pub struct ExecDriver;

impl Launcher for ExecDriver {
    const NAME: &'static str = "exec";

    fn health(&self) -> DriverInfo {
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

    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError> {
        let identity = Identity::lookup(cfg.user.as_deref().unwrap_or(DEFAULT_USER))?;
        let version =
            cgroup::detect().ok_or_else(|| DriverError::Cgroup(std::io::Error::other("no cgroup hierarchy")))?;
        let r = &cfg.resources;
        let memory_mb = if r.memory_max_mb > 0 { r.memory_max_mb } else { r.memory_mb };
        let limits = Limits { memory_bytes: memory_mb * 1024 * 1024, cpu_mhz: r.cpu_mhz };
        let cgroup = Cgroup::create(version, &cfg.id, &limits).map_err(DriverError::Cgroup)?;
        Ok(Prepared { cgroup: Some(cgroup), identity: Some(identity) })
    }
}
