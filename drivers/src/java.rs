//! The java driver: runs `java [jvm_options] [-cp class_path] (-jar jar_path | class) args`
//! isolated exactly as exec runs its command. The JVM is the host's (`$JAVA_HOME/bin/java`,
//! else `java` on the agent's PATH), found once; its home directory is added to the task's
//! root when `chroot_env` does not already show it. The task's memory limit is its cgroup's:
//! no `-Xmx` is added.

use crate::chroot::ChrootEnv;
use crate::exec::{isolation_support, prepare_isolated};
use crate::process::{CommandConfig, Launcher, Prepared};
use crate::settings::Settings;
use crate::{DriverError, DriverInfo, TaskConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The `java` driver. Needs what exec needs, and a JVM.
#[derive(Debug, Default)]
pub struct JavaDriver {
    chroot_env: ChrootEnv,
    jvm: OnceLock<Option<Jvm>>,
}

impl JavaDriver {
    /// A java driver whose tasks see the host paths of `chroot_env` and the JVM's home.
    pub fn new(chroot_env: ChrootEnv) -> JavaDriver {
        JavaDriver { chroot_env, jvm: OnceLock::new() }
    }

    fn jvm(&self) -> Option<&Jvm> {
        self.jvm.get_or_init(Jvm::detect).as_ref()
    }
}

/// The host's JVM.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Jvm {
    /// The `java` binary, symbolic links resolved.
    binary: PathBuf,
    /// The directory the binary's `bin/` is in.
    home: PathBuf,
    version: String,
    runtime: String,
    vm: String,
}

impl Jvm {
    fn detect() -> Option<Jvm> {
        let found = std::env::var_os("JAVA_HOME")
            .map(|home| Path::new(&home).join("bin").join("java"))
            .filter(|java| java.is_file())
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path).map(|dir| dir.join("java")).find(|java| java.is_file())
            })?;
        let binary = std::fs::canonicalize(found).ok()?;
        let home = binary.parent()?.parent()?.to_path_buf();
        let output = Command::new(&binary).arg("-version").stdin(Stdio::null()).output().ok()?;
        if !output.status.success() {
            return None;
        }
        let (version, runtime, vm) = parse_version(&String::from_utf8_lossy(&output.stderr))?;
        Some(Jvm { binary, home, version, runtime, vm })
    }
}

/// Version, runtime and VM from `java -version` output: the line with `version "…"` and
/// the two after it (lines before it, such as "Picked up …" notices, are skipped).
fn parse_version(output: &str) -> Option<(String, String, String)> {
    let mut lines = output.lines().map(str::trim).skip_while(|l| !l.contains(" version \""));
    let version = lines.next()?.split('"').nth(1)?.to_string();
    let runtime = lines.next()?.to_string();
    let vm = lines.next()?.to_string();
    Some((version, runtime, vm))
}

/// What the JVM runs: a jar or a main class.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Main {
    Jar(String),
    Class(String),
}

/// A java task's config block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaConfig {
    main: Main,
    class_path: Option<String>,
    jvm_options: Vec<String>,
    args: Vec<String>,
}

impl JavaConfig {
    pub fn parse(config: &serde_json::Value) -> Result<JavaConfig, DriverError> {
        let settings = Settings::new(config, &["jar_path", "class", "class_path", "jvm_options", "args"])?;
        let main = match (settings.string("jar_path")?, settings.string("class")?) {
            (Some(jar), None) => Main::Jar(jar),
            (None, Some(class)) => Main::Class(class),
            (Some(_), Some(_)) => {
                return Err(DriverError::Config("set one of \"jar_path\" and \"class\", not both".into()))
            }
            (None, None) => return Err(DriverError::Config("missing required field \"jar_path\" or \"class\"".into())),
        };
        Ok(JavaConfig {
            main,
            class_path: settings.string("class_path")?,
            jvm_options: settings.strings("jvm_options")?,
            args: settings.strings("args")?,
        })
    }

    /// The command line for the JVM at `java`.
    fn command(self, java: &Path) -> CommandConfig {
        let mut args = self.jvm_options;
        if let Some(class_path) = self.class_path {
            args.extend(["-cp".to_string(), class_path]);
        }
        match self.main {
            Main::Jar(jar) => args.extend(["-jar".to_string(), jar]),
            Main::Class(class) => args.push(class),
        }
        args.extend(self.args);
        CommandConfig { command: java.to_string_lossy().into_owned(), args }
    }
}

impl Launcher for JavaDriver {
    const NAME: &'static str = "java";

    fn health(&self) -> DriverInfo {
        if let Err(info) = isolation_support() {
            return info;
        }
        let Some(jvm) = self.jvm() else {
            return DriverInfo { health_description: "no Java runtime found".into(), ..DriverInfo::default() };
        };
        DriverInfo {
            detected: true,
            healthy: true,
            health_description: "Healthy".into(),
            attributes: [("version", &jvm.version), ("runtime", &jvm.runtime), ("vm", &jvm.vm)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn prepare(&self, cfg: &TaskConfig) -> Result<Prepared, DriverError> {
        let config = JavaConfig::parse(&cfg.config)?;
        let jvm = self.jvm().ok_or_else(|| DriverError::Unavailable("no Java runtime found".into()))?;
        let mut chroot_env = self.chroot_env.clone();
        chroot_env.include(&jvm.home);
        prepare_isolated(cfg, &chroot_env, config.command(&jvm.binary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_version_output() {
        let output = "Picked up JAVA_TOOL_OPTIONS: -Xss1m\nopenjdk version \"17.0.15\" 2025-04-15\n\
            OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\n\
            OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)\n";
        let (version, runtime, vm) = parse_version(output).unwrap();
        assert_eq!(version, "17.0.15");
        assert_eq!(runtime, "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)");
        assert_eq!(vm, "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)");
        assert_eq!(parse_version("java: not found"), None);
    }

    #[test]
    fn builds_the_command_line() {
        let config = serde_json::json!({
            "class": "Hello", "class_path": "/local", "jvm_options": ["-Dx=1"], "args": ["a", "b"]
        });
        let command = JavaConfig::parse(&config).unwrap().command(Path::new("/jvm/bin/java"));
        assert_eq!(command.command, "/jvm/bin/java");
        assert_eq!(command.args, ["-Dx=1", "-cp", "/local", "Hello", "a", "b"]);
        let jar = JavaConfig::parse(&serde_json::json!({ "jar_path": "local/app.jar" })).unwrap();
        assert_eq!(jar.command(Path::new("java")).args, ["-jar", "local/app.jar"]);
    }
}
