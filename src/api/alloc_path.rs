//! Paths into an allocation's directory, as `/v1/client/fs/*` takes them: relative to the
//! allocation directory (`alloc/logs`, `web/local/out.txt`), or with a leading `/` standing
//! for it (`/`, `/alloc/logs`), as Nomad's CLI writes them. Nothing outside the allocation
//! directory can be reached: `..` is refused, an absolute path that is not one of the
//! directory's own is refused, and a symlink that resolves outside it is refused.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path {0:?}: \"..\" is not allowed")]
    ParentComponent(String),
    #[error("path {0:?} is outside the allocation directory")]
    Outside(String),
    #[error("path {0:?} does not exist")]
    NotFound(String),
}

/// The host path `requested` names inside the allocation directory `root`, with symlinks
/// resolved; errors when it would leave `root` or does not exist.
pub fn resolve(root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    let path = Path::new(requested);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(PathError::ParentComponent(requested.to_string()));
    }
    let relative: PathBuf = if path.is_absolute() {
        let inside: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        match path.strip_prefix(root) {
            Ok(under_root) => under_root.to_path_buf(),
            // `/`, `/alloc/...`, `/<task>/...`: the allocation directory's own entries.
            Err(_) if inside.as_os_str().is_empty() || root.join(inside.components().next().unwrap()).exists() => {
                inside
            }
            Err(_) => return Err(PathError::Outside(requested.to_string())),
        }
    } else {
        path.to_path_buf()
    };
    let root = root.canonicalize().map_err(|_| PathError::NotFound(requested.to_string()))?;
    let resolved = root.join(relative).canonicalize().map_err(|_| PathError::NotFound(requested.to_string()))?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(PathError::Outside(requested.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc_dir() -> PathBuf {
        let root = std::env::temp_dir().join(format!("rove-alloc-path-{}", crate::structs::generate_id()));
        std::fs::create_dir_all(root.join("alloc/logs")).unwrap();
        std::fs::create_dir_all(root.join("web/local")).unwrap();
        std::fs::write(root.join("web/local/out.txt"), "hi").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("web/local/passwd")).unwrap();
        std::os::unix::fs::symlink("out.txt", root.join("web/local/alias")).unwrap();
        root
    }

    #[test]
    fn paths_inside_resolve_and_everything_else_is_refused() {
        let root = alloc_dir();
        let real = root.canonicalize().unwrap();
        assert_eq!(resolve(&root, "alloc/logs"), Ok(real.join("alloc/logs")));
        assert_eq!(resolve(&root, "/"), Ok(real.clone()));
        assert_eq!(resolve(&root, "/web/local/out.txt"), Ok(real.join("web/local/out.txt")));
        assert_eq!(resolve(&root, root.join("alloc").to_str().unwrap()), Ok(real.join("alloc")));
        assert_eq!(resolve(&root, "web/local/alias"), Ok(real.join("web/local/out.txt")), "symlinks inside are fine");
        assert_eq!(resolve(&root, "../../etc/passwd"), Err(PathError::ParentComponent("../../etc/passwd".into())));
        assert_eq!(resolve(&root, "alloc/../web"), Err(PathError::ParentComponent("alloc/../web".into())));
        assert_eq!(resolve(&root, "/etc/passwd"), Err(PathError::Outside("/etc/passwd".into())));
        assert_eq!(resolve(&root, "web/local/passwd"), Err(PathError::Outside("web/local/passwd".into())));
        assert_eq!(resolve(&root, "web/nothing"), Err(PathError::NotFound("web/nothing".into())));
        std::fs::remove_dir_all(root).unwrap();
    }
}
