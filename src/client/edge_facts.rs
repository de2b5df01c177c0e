//! Facts about the machine that edge fleets schedule by, read from the kernel's own files
//! under a root (`/` on a real node): the board model (device tree on a Raspberry Pi and
//! other ARM boards, DMI on PCs), the CPU temperature, the network interfaces with their
//! addresses, and the cgroup version and controllers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// Thermal zones that measure the CPU, most specific first.
const CPU_ZONES: [&str; 5] = ["cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc_thermal", "cpu"];

/// The facts as node attributes.
pub fn attributes(root: &Path) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    if let Some(model) = board_model(root) {
        attrs.insert("board.model".into(), model);
    }
    if let Some(celsius) = cpu_temperature(root) {
        attrs.insert("cpu.temperature".into(), format!("{celsius:.1}"));
    }
    let interfaces = interfaces(root);
    if !interfaces.is_empty() {
        attrs.insert("network.interfaces".into(), interfaces.join(","));
    }
    for (name, addrs) in addresses() {
        if interfaces.contains(&name) {
            let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            attrs.insert(format!("unique.network.{name}.addresses"), list.join(","));
        }
    }
    if let Some((version, controllers)) = cgroups(root) {
        attrs.insert("os.cgroups.version".into(), version.into());
        attrs.insert("os.cgroups.controllers".into(), controllers.join(","));
    }
    attrs
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty()).then(|| text.to_string())
}

/// The device tree's model ("Raspberry Pi 4 Model B Rev 1.4"), else DMI's vendor and
/// product.
fn board_model(root: &Path) -> Option<String> {
    let tree = ["proc/device-tree/model", "sys/firmware/devicetree/base/model"];
    if let Some(model) = tree.iter().find_map(|p| read_trimmed(&root.join(p))) {
        return Some(model);
    }
    let product = read_trimmed(&root.join("sys/class/dmi/id/product_name"))?;
    match read_trimmed(&root.join("sys/class/dmi/id/sys_vendor")) {
        Some(vendor) if !product.starts_with(&vendor) => Some(format!("{vendor} {product}")),
        _ => Some(product),
    }
}

/// Degrees Celsius from the CPU's thermal zone (or the first zone when none says CPU).
fn cpu_temperature(root: &Path) -> Option<f64> {
    let zones = std::fs::read_dir(root.join("sys/class/thermal")).ok()?;
    zones
        .flatten()
        .filter(|z| z.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|z| {
            let kind = read_trimmed(&z.path().join("type")).unwrap_or_default();
            let millis: f64 = read_trimmed(&z.path().join("temp"))?.parse().ok()?;
            let rank = CPU_ZONES.iter().position(|c| kind.contains(c)).unwrap_or(CPU_ZONES.len());
            Some((rank, millis / 1000.0))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, celsius)| celsius)
}

/// The interfaces that are up, loopback left out, by name.
fn interfaces(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("sys/class/net")) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| read_trimmed(&e.path().join("operstate")).is_some_and(|s| s == "up" || s == "unknown"))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lo")
        .collect();
    names.sort();
    names
}

/// Every interface's IP addresses, from the kernel (getifaddrs).
fn addresses() -> BTreeMap<String, Vec<IpAddr>> {
    let mut out: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string and ifa_addr a sockaddr of the
        // family it names, both alive until freeifaddrs.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }.to_string_lossy().into_owned();
        let addr = unsafe {
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let v4 = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()))
                }
                libc::AF_INET6 => {
                    let v6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::from(v6.sin6_addr.s6_addr))
                }
                _ => None,
            }
        };
        if let Some(addr) = addr {
            out.entry(name).or_default().push(addr);
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

/// The cgroup version ("1" or "2") and the controllers the hierarchy offers.
fn cgroups(root: &Path) -> Option<(&'static str, Vec<String>)> {
    let base = root.join("sys/fs/cgroup");
    if let Some(list) = read_trimmed(&base.join("cgroup.controllers")) {
        return Some(("2", list.split_whitespace().map(str::to_string).collect()));
    }
    let mut controllers: Vec<String> = std::fs::read_dir(&base)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir() && !e.path().is_symlink())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.contains(',') && name != "unified")
        .collect();
    controllers.sort();
    (!controllers.is_empty()).then_some(("1", controllers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn a_raspberry_pi_reports_its_board_temperature_interfaces_and_cgroups() {
        let root = std::env::temp_dir().join(format!("rove-edge-{}", crate::structs::generate_id()));
        write(&root, "proc/device-tree/model", "Raspberry Pi 4 Model B Rev 1.4\0");
        write(&root, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
        write(&root, "sys/class/thermal/thermal_zone0/temp", "48686\n");
        write(&root, "sys/class/thermal/thermal_zone1/type", "gpu-thermal\n");
        write(&root, "sys/class/thermal/thermal_zone1/temp", "51000\n");
        write(&root, "sys/class/net/eth0/operstate", "up\n");
        write(&root, "sys/class/net/wlan0/operstate", "down\n");
        write(&root, "sys/class/net/lo/operstate", "unknown\n");
        write(&root, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
        let attrs = attributes(&root);
        assert_eq!(attrs["board.model"], "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!(attrs["cpu.temperature"], "48.7", "the CPU's zone, not the GPU's");
        assert_eq!(attrs["network.interfaces"], "eth0", "up interfaces only, no loopback");
        assert_eq!(attrs["os.cgroups.version"], "2");
        assert_eq!(attrs["os.cgroups.controllers"], "cpuset,cpu,io,memory,pids");
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn a_pc_reports_its_dmi_model_and_v1_controllers() {
        let root = std::env::temp_dir().join(format!("rove-edge-{}", crate::structs::generate_id()));
        write(&root, "sys/class/dmi/id/sys_vendor", "LENOVO\n");
        write(&root, "sys/class/dmi/id/product_name", "ThinkCentre M720q\n");
        std::fs::create_dir_all(root.join("sys/fs/cgroup/memory")).unwrap();
        std::fs::create_dir_all(root.join("sys/fs/cgroup/cpu")).unwrap();
        let attrs = attributes(&root);
        assert_eq!(attrs["board.model"], "LENOVO ThinkCentre M720q");
        assert!(!attrs.contains_key("cpu.temperature"));
        assert_eq!(
            (attrs["os.cgroups.version"].as_str(), attrs["os.cgroups.controllers"].as_str()),
            ("1", "cpu,memory")
        );
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn this_machine_lists_its_loopback_address() {
        assert!(addresses().values().flatten().any(|a| a.is_loopback()));
    }
}
