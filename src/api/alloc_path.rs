//! Keeps client file-system requests inside an allocation's directory. A requested path is
//! relative to the allocation directory (a leading `/` names that directory, as Nomad's
//! `/alloc/logs` does); it is refused when `..` climbs out of it, when it is an absolute
//! path of something else on the host, or when, once symlinks are resolved, it lands
//! outside the allocation directory. Files are then opened with `O_NOFOLLOW`, so a link
//! swapped in after the check is not followed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("path {0:?} climbs (with ..) outside the allocation directory")]
    Escapes(String),
    #[error("path {0:?} is outside the allocation directory")]
    Outside(String),
    #[error("path {0:?} resolves (through a symlink) outside the allocation directory")]
    LinkOutside(String),
    #[error("no such file or directory: {0:?}")]
    NotFound(String),
    #[error("{path:?}: {source}")]
    Io { path: String, source: io::Error },
}

impl PathError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            PathError::NotFound(_) => 404,
            PathError::Io { .. } => 500,
            _ => 400,
        }
    }
}

/// A checked path inside an allocation directory.
#[derive(Debug)]
pub struct AllocPath {
    /// As the requester named it, relative to the allocation directory, without `..`.
    pub relative: PathBuf,
    /// The canonical host path, free of symlinks.
    pub resolved: PathBuf,
}

/// Checks `requested` against the allocation directory `root`.
pub fn resolve(root: &Path, requested: &str) -> Result<AllocPath, PathError> {
    let io_err = |source| PathError::Io { path: requested.to_string(), source };
    let root = root.canonicalize().map_err(io_err)?;
    let relative = relative_to(&root, requested)?;
    let joined = root.join(&relative);
    let resolved = match joined.canonicalize() {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A dangling link may still point outside: say so rather than "not found".
            return match std::fs::read_link(&joined) {
                Ok(target) if !joined.parent().unwrap_or(&root).join(&target).starts_with(&root) => {
                    Err(PathError::LinkOutside(requested.to_string()))
                }
                _ => Err(PathError::NotFound(requested.to_string())),
            };
        }
        Err(e) => return Err(io_err(e)),
    };
    if !resolved.starts_with(&root) {
        return Err(PathError::LinkOutside(requested.to_string()));
    }
    Ok(AllocPath { relative, resolved })
}

/// The lexically normalized path below `root`, refusing `..` that climbs above it and
/// absolute paths that are neither under `root` nor start with one of its entries.
fn relative_to(root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    let path = Path::new(requested);
    let path = match path.strip_prefix(root) {
        Ok(inside) => inside,
        Err(_) if path.is_absolute() => {
            let first = path.components().find_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            });
            if first.is_some_and(|name| !root.join(name).exists()) {
                return Err(PathError::Outside(requested.to_string()));
            }
            path
        }
        Err(_) => path,
    };
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => relative.push(name),
            Component::ParentDir if !relative.pop() => return Err(PathError::Escapes(requested.to_string())),
            _ => {}
        }
    }
    Ok(relative)
}

/// Opens a checked path for reading without following a final symlink.
pub fn open(path: &AllocPath) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path.resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let root = std::env::temp_dir().join(format!("rove-allocpath-{}", crate::structs::generate_id()));
            std::fs::create_dir_all(root.join("alloc/logs")).unwrap();
            std::fs::create_dir_all(root.join("web/local")).unwrap();
            std::fs::write(root.join("web/local/conf"), "x").unwrap();
            Scratch(root)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn status(root: &Path, requested: &str) -> u16 {
        resolve(root, requested).map_or_else(|e| e.status(), |_| 200)
    }

    #[test]
    fn paths_inside_are_resolved_relative_to_the_allocation() {
        let s = Scratch::new();
        for requested in ["", "/", "alloc/logs", "/alloc/logs", "web/local/../local/conf", "./web"] {
            assert_eq!(status(&s.0, requested), 200, "{requested}");
        }
        let inside = resolve(&s.0, "/web/local/conf").unwrap();
        assert_eq!(inside.relative, Path::new("web/local/conf"));
        let host = s.0.join("web/local/conf").display().to_string();
        assert_eq!(resolve(&s.0, &host).unwrap().relative, Path::new("web/local/conf"));
        assert_eq!(status(&s.0, "alloc/missing"), 404);
    }

    #[test]
    fn dot_dot_that_climbs_out_is_refused() {
        let s = Scratch::new();
        for requested in ["..", "../../etc/passwd", "alloc/../../x", "/alloc/../../../etc/passwd"] {
            assert_eq!(status(&s.0, requested), 400, "{requested}");
        }
    }

    #[test]
    fn absolute_paths_elsewhere_are_refused() {
        let s = Scratch::new();
        assert_eq!(status(&s.0, "/etc/passwd"), 400);
        assert_eq!(status(&s.0, std::env::temp_dir().to_str().unwrap()), 400);
    }

    #[test]
    fn symlinks_resolving_outside_are_refused_and_inside_ones_followed() {
        let s = Scratch::new();
        std::os::unix::fs::symlink("/etc/passwd", s.0.join("web/local/passwd")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/file", s.0.join("web/local/dangling")).unwrap();
        std::os::unix::fs::symlink("../../alloc", s.0.join("web/local/shared")).unwrap();
        std::os::unix::fs::symlink("/etc", s.0.join("alloc/etc")).unwrap();
        assert!(matches!(resolve(&s.0, "web/local/passwd"), Err(PathError::LinkOutside(_))));
        assert!(matches!(resolve(&s.0, "web/local/dangling"), Err(PathError::LinkOutside(_))));
        assert!(matches!(resolve(&s.0, "alloc/etc/passwd"), Err(PathError::LinkOutside(_))));
        assert_eq!(
            resolve(&s.0, "web/local/shared/logs").unwrap().resolved,
            s.0.canonicalize().unwrap().join("alloc/logs")
        );
    }
}
