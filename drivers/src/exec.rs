//! The exec driver: runs a command as an unprivileged user (default `nobody`) in its own
//! cgroup (memory limit, CPU weight, optional CPU pinning), pid, mount, ipc and uts
//! namespaces, and a root filesystem made of its task directory and `chroot_env`.
//! [`prepare_isolated`] is the part the java driver shares.

use crate::cgroup::{self, Cgroup, Limits};
use crate::chroot::{ChrootEnv, RootFs};
use crate::isolation::Isolation;
use crate::process::{CommandConfig, Identity, Launcher, Prepared};
use crate::{DriverError, DriverInfo, TaskConfig};

/// Who isolated tasks run as when the job names no `user`.
pub(crate) const DEFAULT_USER: &str = "nobody";

/// The `exec` driver. Needs root and a cgroup hierarchy with the memory controller.
#[derive(Debug, Clone, Default)]
pub struct ExecDriver {
    chroot_env: ChrootEnv,
}

impl ExecDriver {
    /// An exec driver whose tasks see the host paths of `chroot_env`.
    pub fn new(chroot_env: ChrootEnv) -> ExecDriver {
        ExecDriver { chroot_env }
    }
}

/// Whether this machine can isolate tasks: the cgroup version if so, else why not.
pub(crate) fn isolation_support() -> Result<cgroup::Version, DriverInfo> {
    let undetected = |why: &str| DriverInfo { health_description: why.into(), ..DriverInfo::default() };
    if !nix::unistd::geteuid().is_root() {
        return Err(undetected("isolating tasks needs the agent to run as root"));
    }
    cgroup::detect().ok_or_else(|| undetected("no cgroup hierarchy with the memory controller under /sys/fs/cgroup"))
}

/// Sets up `command` to run isolated: the task's user, cgroup and root filesystem.
pub(crate) fn prepare_isolated(
    cfg: &TaskConfig,
    chroot_env: &ChrootEnv,
    command: CommandConfig,
) -> Result<Prepared, DriverError> {
    let identity = Identity::lookup(cfg.user.as_deref().unwrap_or(DEFAULT_USER))?;
    let version = cgroup::detect().ok_or(DriverError::NoCgroups)?;
    let r = &cfg.resources;
    let memory_mb = if r.memory_max_mb > 0 { r.memory_max_mb } else { r.memory_mb };
    let cpus: Vec<String> = r.cores.iter().map(u32::to_string).collect();
    let limits = Limits {
        memory_bytes: (memory_mb > 0).then_some(memory_mb * 1024 * 1024),
        cpu_shares: (r.cpu_mhz > 0).then_some(r.cpu_mhz),
        cpus: (!cpus.is_empty()).then(|| cpus.join(",")),
    };
    let rootfs = RootFs::prepare(&cfg.task_dir, &cfg.alloc_dir, chroot_env, &cfg.mounts)?;
    let cgroup = Cgroup::create(version, &cfg.id, &limits).map_err(DriverError::Cgroup).inspect_err(|_| {
        crate::chroot::remove_mount_points(&cfg.task_dir, rootfs.mount_points());
    })?;
    let isolation = Isolation::new(rootfs, &cfg.name);
    Ok(Prepared { command, cgroup: Some(cgroup), identity: Some(identity), isolation: Some(isolation) })
}

impl Launcher for ExecDriver {
    const NAME: &'static str = "exec";

    fn health(&self) -> DriverInfo {
        match isolation_support() {
            Ok(version) => DriverInfo {
                detected: true,
                healthy: true,
                health_description: "Healthy".into(),
                attributes: [("cgroup.version".to_string(), version.as_str().to_string())].into(),
            },
            Err(info) => info,
        }
    }

    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError> {
        prepare_isolated(cfg, &self.chroot_env, CommandConfig::parse(&cfg.config)?)
    }
}
