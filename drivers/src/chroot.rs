//! The task's root filesystem, built in its private mount namespace: the task directory
//! itself is the root (so the task's working directory `/` is its task directory, with
//! `local`, `secrets` and `tmp` in it), host directories from `chroot_env` are bind-mounted
//! read-only into it, the allocation's shared directory at `/alloc`, a small `/dev` and,
//! once in the task's pid namespace, a fresh `/proc`.
//!
//! Mount points are made on the host before the fork; the mounts happen only in the task's
//! mount namespace (made private first), so the host never sees them and they vanish with
//! the task's last process. What runs in the forked child uses only system calls on
//! strings prepared here.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Nomad's default `chroot_env`: host directories a task sees at the same path.
const DEFAULT_DIRS: [&str; 8] = ["/bin", "/etc", "/lib", "/lib32", "/lib64", "/run/resolvconf", "/sbin", "/usr"];
/// Host devices bound into the task's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// Links in the task's `/dev` to its own file descriptors (name, target).
const DEV_LINKS: [(&CStr, &CStr); 4] = [
    (c"fd", c"/proc/self/fd"),
    (c"stdin", c"/proc/self/fd/0"),
    (c"stdout", c"/proc/self/fd/1"),
    (c"stderr", c"/proc/self/fd/2"),
];

/// Host paths (files or directories) and where a task sees them, read-only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChrootEnv {
    entries: BTreeMap<PathBuf, PathBuf>,
}

impl Default for ChrootEnv {
    /// Nomad's default set; entries missing on this machine are skipped when a task starts.
    fn default() -> ChrootEnv {
        ChrootEnv::new(DEFAULT_DIRS.iter().map(|d| (PathBuf::from(d), PathBuf::from(d))))
    }
}

impl ChrootEnv {
    /// A chroot made of exactly these (host path, path in the chroot) entries.
    pub fn new(entries: impl IntoIterator<Item = (PathBuf, PathBuf)>) -> ChrootEnv {
        ChrootEnv { entries: entries.into_iter().collect() }
    }

    /// Adds `dir` at its own path unless an entry already shows it there.
    pub fn include(&mut self, dir: &Path) {
        let covered = self.entries.iter().any(|(host, inside)| host == inside && dir.starts_with(host));
        if !covered {
            self.entries.insert(dir.to_path_buf(), dir.to_path_buf());
        }
    }
}

/// Why a task's root filesystem cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ChrootError {
    /// A path in the chroot is not a plain absolute path below `/`.
    #[error("chroot_env: {0:?} is not an absolute path without \"..\" below /")]
    BadPath(PathBuf),
    /// A mount point would be made through a symbolic link in the task directory.
    #[error("{0} is a symbolic link; refusing to mount over it")]
    Symlink(PathBuf),
    /// A host volume's path is missing on this machine.
    #[error("host volume path {0} does not exist")]
    MissingMount(PathBuf),
    /// The allocation's shared directory, to be mounted at /alloc, is missing.
    #[error("allocation directory {0} is not a directory")]
    NoAllocDir(PathBuf),
    /// A path holds a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(PathBuf),
    /// Making a mount point failed.
    #[error("making mount point {path}: {source}")]
    MountPoint {
        /// The mount point.
        path: PathBuf,
        /// Why it could not be made.
        source: io::Error,
    },
}

/// A bind mount: `source` on `target` (under the root), read-only unless `writable`.
struct Bind {
    source: CString,
    target: CString,
    writable: bool,
}

/// Everything the child needs to build the task's root, prepared before the fork.
pub struct RootFs {
    root: CString,
    binds: Vec<Bind>,
    dev: CString,
    devices: Vec<Bind>,
    dev_links: Vec<(CString, &'static CStr)>,
    shm: CString,
    /// Mount points made in the task directory, parents first.
    made: Vec<PathBuf>,
}

fn cstring(path: &Path) -> Result<CString, ChrootError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ChrootError::Nul(path.to_path_buf()))
}

/// `inside` (absolute in the chroot) as a path under `root`, refusing `..` and `/` itself.
fn under(root: &Path, inside: &Path) -> Result<PathBuf, ChrootError> {
    let mut path = root.to_path_buf();
    let mut depth = 0;
    for component in inside.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                path.push(name);
                depth += 1;
            }
            Component::ParentDir | Component::Prefix(_) => return Err(ChrootError::BadPath(inside.to_path_buf())),
        }
    }
    if depth == 0 || !inside.is_absolute() {
        return Err(ChrootError::BadPath(inside.to_path_buf()));
    }
    Ok(path)
}

/// Makes `target` (under `root`) and its missing parents, the last one a file when
/// `file`; records what it made. Never goes through a symbolic link.
fn make_mount_point(root: &Path, target: &Path, file: bool, made: &mut Vec<PathBuf>) -> Result<(), ChrootError> {
    let relative = target.strip_prefix(root).map_err(|_| ChrootError::BadPath(target.to_path_buf()))?;
    let mut path = root.to_path_buf();
    let count = relative.components().count();
    for (i, component) in relative.components().enumerate() {
        path.push(component);
        let at = |source| ChrootError::MountPoint { path: path.clone(), source };
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(ChrootError::Symlink(path)),
            Ok(_) => continue,
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(at(e)),
            Err(_) => {}
        }
        if file && i + 1 == count {
            fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(at)?;
        } else {
            fs::create_dir(&path).map_err(at)?;
        }
        made.push(path.clone());
    }
    Ok(())
}

impl RootFs {
    /// Plans the root of a task whose directory is `task_dir`, with `alloc_dir` at /alloc
    /// and the host paths of `mounts`, and makes its mount points. Nothing is left behind
    /// when this fails.
    pub fn prepare(
        task_dir: &Path,
        alloc_dir: &Path,
        env: &ChrootEnv,
        mounts: &[crate::Mount],
    ) -> Result<RootFs, ChrootError> {
        let mut made = Vec::new();
        RootFs::plan(task_dir, alloc_dir, env, mounts, &mut made).inspect_err(|_| remove_mount_points(task_dir, &made))
    }

    fn plan(
        task_dir: &Path,
        alloc_dir: &Path,
        env: &ChrootEnv,
        mounts: &[crate::Mount],
        made: &mut Vec<PathBuf>,
    ) -> Result<RootFs, ChrootError> {
        if !alloc_dir.is_dir() {
            return Err(ChrootError::NoAllocDir(alloc_dir.to_path_buf()));
        }
        let mut wanted: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
        for (host, inside) in &env.entries {
            if host.exists() {
                wanted.push((host.clone(), under(task_dir, inside)?, false));
            }
        }
        wanted.push((alloc_dir.to_path_buf(), task_dir.join("alloc"), true));
        for mount in mounts {
            if !mount.host.exists() {
                return Err(ChrootError::MissingMount(mount.host.clone()));
            }
            wanted.push((mount.host.clone(), under(task_dir, &mount.task)?, !mount.read_only));
        }
        // Parents before what is mounted inside them.
        wanted.sort_by(|a, b| a.1.cmp(&b.1));
        let mut binds = Vec::new();
        for (source, target, writable) in wanted {
            make_mount_point(task_dir, &target, !source.is_dir(), made)?;
            binds.push(Bind { source: cstring(&source)?, target: cstring(&target)?, writable });
        }
        let dev = task_dir.join("dev");
        make_mount_point(task_dir, &dev, false, made)?;
        make_mount_point(task_dir, &task_dir.join("proc"), false, made)?;
        let devices = DEVICES
            .iter()
            .map(|d| Path::new("/dev").join(d))
            .filter(|d| d.exists())
            .map(|d| {
                let target = dev.join(d.file_name().unwrap_or_default());
                Ok(Bind { source: cstring(&d)?, target: cstring(&target)?, writable: true })
            })
            .collect::<Result<_, ChrootError>>()?;
        let dev_links =
            DEV_LINKS.iter().map(|(name, to)| Ok((cstring(&dev.join(name.to_str().unwrap_or_default()))?, *to)));
        Ok(RootFs {
            root: cstring(task_dir)?,
            binds,
            dev_links: dev_links.collect::<Result<_, ChrootError>>()?,
            shm: cstring(&dev.join("shm"))?,
            dev: cstring(&dev)?,
            devices,
            made: made.clone(),
        })
    }

    /// The mount points this made in the task directory, parents first.
    pub fn mount_points(&self) -> &[PathBuf] {
        &self.made
    }

    /// In the child, in its new mount namespace: stops mount events from reaching the host,
    /// mounts everything but /proc and makes the task directory the root and working
    /// directory. Async-signal-safe.
    pub fn enter(&self) -> io::Result<()> {
        let none = std::ptr::null::<libc::c_char>();
        let private = (libc::MS_REC | libc::MS_PRIVATE) as libc::c_ulong;
        check(unsafe { libc::mount(none, c"/".as_ptr(), none, private, std::ptr::null()) })?;
        // pivot_root needs the new root to be a mount point.
        bind(&self.root, &self.root, true)?;
        for b in &self.binds {
            bind(&b.source, &b.target, b.writable)?;
        }
        let (nosuid, noexec) = (libc::MS_NOSUID as libc::c_ulong, libc::MS_NOEXEC as libc::c_ulong);
        let tmpfs = |target: &CString, options: &CStr| {
            let flags = nosuid | noexec;
            check(unsafe {
                libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), flags, options.as_ptr().cast())
            })
        };
        tmpfs(&self.dev, c"mode=755,size=64k")?;
        for device in &self.devices {
            let fd =
                unsafe { libc::open(device.target.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o666) };
            check(fd)?;
            unsafe { libc::close(fd) };
            bind(&device.source, &device.target, true)?;
        }
        for (link, to) in &self.dev_links {
            check(unsafe { libc::symlink(to.as_ptr(), link.as_ptr()) })?;
        }
        check(unsafe { libc::mkdir(self.shm.as_ptr(), 0o1777) })?;
        tmpfs(&self.shm, c"mode=1777,size=64m")?;
        self.pivot()
    }

    /// Makes the task directory the root; the old root is detached, so nothing of the host
    /// but what was bound in stays reachable.
    fn pivot(&self) -> io::Result<()> {
        check(unsafe { libc::chdir(self.root.as_ptr()) })?;
        let dot = c".".as_ptr();
        check(unsafe { libc::syscall(libc::SYS_pivot_root, dot, dot) } as libc::c_int)?;
        // The old root is now stacked on the new one at "/": detach it.
        check(unsafe { libc::umount2(dot, libc::MNT_DETACH) })?;
        check(unsafe { libc::chdir(c"/".as_ptr()) })
    }
}

/// In the task's pid namespace, inside the new root: a /proc that shows that namespace.
pub fn mount_proc() -> io::Result<()> {
    let flags = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;
    check(unsafe { libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), flags, std::ptr::null()) })
}

/// Bind-mounts `source` (with what is mounted below it) on `target`; read-only, without
/// set-user-id programs and devices unless `writable`.
fn bind(source: &CStr, target: &CStr, writable: bool) -> io::Result<()> {
    let none = std::ptr::null::<libc::c_char>();
    let flags = (libc::MS_BIND | libc::MS_REC) as libc::c_ulong;
    check(unsafe { libc::mount(source.as_ptr(), target.as_ptr(), none, flags, std::ptr::null()) })?;
    if writable {
        return Ok(());
    }
    // A bind mount only becomes read-only by remounting it.
    let ro = (libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV) as libc::c_ulong;
    check(unsafe { libc::mount(none, target.as_ptr(), none, ro, std::ptr::null()) })
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Removes the mount points a task's root was given (`made`, parents first), deepest
/// first. Only empty directories and empty files are removed, never through a symbolic
/// link, and `rmdir` refuses a directory something is still mounted on: host files a
/// mount showed cannot be reached from here.
pub fn remove_mount_points(root: &Path, made: &[PathBuf]) {
    for path in made.iter().rev() {
        let Ok(relative) = path.strip_prefix(root) else { continue };
        let mut through_link = false;
        let mut at = root.to_path_buf();
        for component in relative.components() {
            at.push(component);
            through_link |= fs::symlink_metadata(&at).map_or(true, |m| m.file_type().is_symlink());
        }
        if through_link {
            continue;
        }
        let removed = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir(path),
            Ok(meta) if meta.is_file() && meta.len() == 0 => fs::remove_file(path),
            _ => continue,
        };
        if let Err(e) = removed {
            log::debug!("chroot: leaving {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/t");
        assert_eq!(under(root, Path::new("/usr/lib")).unwrap(), Path::new("/t/usr/lib"));
        assert!(under(root, Path::new("/")).is_err());
        assert!(under(root, Path::new("/usr/../..")).is_err());
        assert!(under(root, Path::new("usr")).is_err());
    }

    #[test]
    fn include_skips_covered_dirs() {
        let mut env = ChrootEnv::default();
        env.include(Path::new("/usr/lib/jvm/x"));
        assert_eq!(env, ChrootEnv::default());
        env.include(Path::new("/opt/jdk"));
        assert_eq!(env.entries.get(Path::new("/opt/jdk")), Some(&PathBuf::from("/opt/jdk")));
    }

    #[test]
    fn mount_points_are_made_and_removed_without_following_links() {
        let root = std::env::temp_dir().join(format!("rove-chroot-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        let mut made = Vec::new();
        make_mount_point(&root, &root.join("run/resolvconf"), false, &mut made).unwrap();
        make_mount_point(&root, &root.join("etc/hosts"), true, &mut made).unwrap();
        assert_eq!(made.len(), 4);
        std::os::unix::fs::symlink("/", root.join("link")).unwrap();
        let err = make_mount_point(&root, &root.join("link/x"), false, &mut made).unwrap_err();
        assert!(matches!(err, ChrootError::Symlink(_)), "{err}");
        fs::write(root.join("etc/kept"), "x").unwrap();
        remove_mount_points(&root, &made);
        assert!(!root.join("run").exists() && !root.join("etc/hosts").exists());
        assert!(root.join("etc/kept").exists(), "a directory with other files stays");
        fs::remove_dir_all(&root).unwrap();
    }
}
