//! Fingerprinting: what this machine is and has, as the node the servers schedule onto.
//! Attribute names follow Nomad's (`cpu.arch`, `kernel.name`, `unique.hostname`, ...).

use crate::structs::{
    now_nanos, DriverInfo, Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources, NodeResources,
};
use std::collections::BTreeMap;
use std::path::Path;
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};

/// MHz assumed per core when the kernel does not report a frequency (as in many VMs).
const FALLBACK_MHZ_PER_CORE: u64 = 1000;

pub struct Fingerprint {
    pub attributes: BTreeMap<String, String>,
    pub resources: NodeResources,
}

/// Reads the machine: CPU, memory, the disk holding `data_dir`, kernel and OS.
pub fn machine(data_dir: &Path) -> Fingerprint {
    let mut attrs = BTreeMap::new();
    let system = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_frequency())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .ok();
    let cores = system.as_ref().map_or(0, |s| s.cpus().len()).max(1) as u64;
    let mhz = system
        .as_ref()
        .and_then(|s| s.cpus().iter().map(|c| c.frequency()).max())
        .filter(|f| *f > 0)
        .or_else(cpuinfo_mhz)
        .unwrap_or(FALLBACK_MHZ_PER_CORE);
    let memory_bytes = system.as_ref().map_or(0, System::total_memory);
    if let Some(model) = system.as_ref().and_then(|s| s.cpus().first()).map(|c| c.brand().to_string()) {
        attrs.insert("cpu.modelname".into(), model);
    }
    attrs.insert("cpu.arch".into(), System::cpu_arch());
    attrs.insert("cpu.numcores".into(), cores.to_string());
    attrs.insert("cpu.frequency".into(), mhz.to_string());
    attrs.insert("cpu.totalcompute".into(), (mhz * cores).to_string());
    attrs.insert("memory.totalbytes".into(), memory_bytes.to_string());
    attrs.insert("kernel.name".into(), std::env::consts::OS.into());
    if let Ok(v) = System::kernel_version() {
        attrs.insert("kernel.version".into(), v);
    }
    if let Ok(name) = System::name() {
        attrs.insert("os.name".into(), name.to_lowercase());
    }
    if let Ok(v) = System::os_version() {
        attrs.insert("os.version".into(), v);
    }
    if let Ok(host) = System::host_name() {
        attrs.insert("unique.hostname".into(), host);
    }
    let (disk_total, disk_free) = disk_for(data_dir);
    attrs.insert("unique.storage.bytestotal".into(), disk_total.to_string());
    attrs.insert("unique.storage.bytesfree".into(), disk_free.to_string());
    attrs.insert("nomad.version".into(), env!("CARGO_PKG_VERSION").into());
    attrs.insert("rove.version".into(), env!("CARGO_PKG_VERSION").into());
    attrs.extend(super::edge_facts::attributes(Path::new("/")));
    Fingerprint {
        attributes: attrs,
        resources: NodeResources {
            cpu: NodeCpuResources { cpu_shares: mhz * cores, total_cpu_cores: cores as u32 },
            memory: NodeMemoryResources { memory_mb: memory_bytes / (1024 * 1024) },
            disk: NodeDiskResources { disk_mb: disk_free / (1024 * 1024) },
        },
    }
}

fn cpuinfo_mhz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .filter(|l| l.starts_with("cpu MHz"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .map(|f| f as u64)
        .max()
}

/// Total and free bytes of the disk whose mount point holds `path` most closely.
fn disk_for(path: &Path) -> (u64, u64) {
    let Ok(disks) = Disks::new_with_refreshed_list() else {
        return (0, 0);
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    disks
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map_or((0, 0), |d| (d.total_space(), d.available_space()))
}

/// The node's view of each driver, and `driver.<name>` attributes for the healthy ones.
pub fn drivers<'a>(
    drivers: impl IntoIterator<Item = &'a dyn rove_drivers::Driver>,
    attributes: &mut BTreeMap<String, String>,
) -> BTreeMap<String, DriverInfo> {
    let now = now_nanos();
    drivers
        .into_iter()
        .map(|driver| {
            let info = driver.fingerprint();
            if info.detected && info.healthy {
                attributes.insert(format!("driver.{}", driver.name()), "1".into());
            }
            for (key, value) in &info.attributes {
                attributes.insert(format!("driver.{}.{key}", driver.name()), value.clone());
            }
            let info = DriverInfo {
                attributes: info.attributes,
                detected: info.detected,
                healthy: info.healthy,
                health_description: info.health_description,
                update_time: now,
            };
            (driver.name().to_string(), info)
        })
        .collect()
}

/// Fingerprints the drivers again; when one appeared, failed or changed its facts, updates
/// the node's drivers and `driver.*` attributes and says so.
pub fn refresh_drivers<'a>(node: &mut Node, drivers: impl IntoIterator<Item = &'a dyn rove_drivers::Driver>) -> bool {
    let mut attributes: BTreeMap<String, String> = node
        .attributes
        .iter()
        .filter(|(k, _)| !k.starts_with("driver."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fresh = Node { drivers: self::drivers(drivers, &mut attributes), attributes, ..node.clone() };
    if fresh.same_drivers(node) {
        return false;
    }
    *node = fresh;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshing_drivers_reports_changes_once_and_replaces_driver_attributes() {
        let raw_exec = rove_drivers::RawExecDriver;
        let drivers = || [&raw_exec as &dyn rove_drivers::Driver];
        let mut node = Node::default();
        node.attributes.insert("driver.gone".into(), "1".into());
        node.attributes.insert("kernel.name".into(), "linux".into());
        assert!(refresh_drivers(&mut node, drivers()), "raw_exec appeared");
        assert!(node.drivers["raw_exec"].healthy);
        assert_eq!(node.attributes.get("driver.raw_exec").map(String::as_str), Some("1"));
        assert!(!node.attributes.contains_key("driver.gone"), "a driver that went away loses its attributes");
        assert_eq!(node.attributes["kernel.name"], "linux", "other attributes stay");
        assert!(!refresh_drivers(&mut node, drivers()), "nothing changed the second time");
    }
}
