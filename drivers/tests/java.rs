//! The java driver with the machine's real JDK (run as root): a Hello class compiled with
//! `javac`, run from a jar and from a class path, inside exec's isolation.

mod common;

use common::Task;
use rove_drivers::{Driver, DriverError, JavaDriver};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{LazyLock, OnceLock};

static JAVA: LazyLock<JavaDriver> = LazyLock::new(JavaDriver::default);

const HELLO: &str = r#"public class Hello {
    public static void main(String[] args) {
        System.out.println("greeting=" + System.getProperty("greeting") + " args=" + String.join(",", args));
    }
}
"#;

/// Compiles Hello once: a directory with `classes/Hello.class` and, when the `jar` tool
/// exists, `hello.jar` with Hello as its main class.
fn hello() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("java-hello-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Hello.java"), HELLO).unwrap();
        let run = |cmd: &mut Command| assert!(cmd.current_dir(&dir).status().unwrap().success(), "{cmd:?}");
        run(Command::new("javac").args(["-d", "classes", "Hello.java"]));
        if Command::new("jar").arg("--version").output().is_ok_and(|o| o.status.success()) {
            run(Command::new("jar").args(["cfe", "hello.jar", "Hello", "-C", "classes", "."]));
        }
        dir
    })
}

/// Copies `from` (a file or a flat directory) into the task's `local`.
fn install(task: &Task, from: &Path) {
    let to = task.dir.join("local").join(from.file_name().unwrap());
    if from.is_dir() {
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

fn run(task: &Task) -> (rove_drivers::ExitResult, String) {
    let handle = JAVA.start(&task.cfg).unwrap();
    let exit = JAVA.wait(&handle).unwrap();
    JAVA.destroy(&handle).unwrap();
    (exit, task.stdout())
}

fn java_task(name: &str, config: serde_json::Value) -> Task {
    let mut task = Task::new(name, &[]);
    task.cfg.config = config;
    task.cfg.resources.memory_mb = 512;
    task
}

#[test]
fn runs_a_jar_with_jvm_options_and_args() {
    let jar = hello().join("hello.jar");
    if !jar.exists() {
        eprintln!("no `jar` tool: covered by the class path test");
        return;
    }
    let task = java_task(
        "jar",
        serde_json::json!({ "jar_path": "local/hello.jar", "jvm_options": ["-Dgreeting=hi", "-Xss1m"], "args": ["a", "b c"] }),
    );
    install(&task, &jar);
    let (exit, stdout) = run(&task);
    assert_eq!(exit.exit_code, 0, "{exit:?}: {}", task.stderr());
    assert_eq!(stdout, "greeting=hi args=a,b c\n");
}

#[test]
fn runs_a_class_from_a_class_path() {
    let task = java_task(
        "class",
        serde_json::json!({ "class": "Hello", "class_path": "/local/classes", "jvm_options": ["-Dgreeting=yo"] }),
    );
    install(&task, &hello().join("classes"));
    let (exit, stdout) = run(&task);
    assert_eq!(exit.exit_code, 0, "{exit:?}: {}", task.stderr());
    assert_eq!(stdout, "greeting=yo args=\n");
}

#[test]
fn fingerprint_reports_the_jvm() {
    let info = JAVA.fingerprint();
    assert!(info.detected && info.healthy, "{info:?}");
    assert!(info.attributes["version"].starts_with("17."), "{info:?}");
    assert!(info.attributes["runtime"].contains("Runtime Environment (build 17."), "{info:?}");
    assert!(info.attributes["vm"].contains("VM (build 17."), "{info:?}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let check = |config: serde_json::Value| rove_drivers::validate_config("java", &config).unwrap_err().to_string();
    assert_eq!(
        check(serde_json::json!({ "jar_path": "a.jar", "class": "Hello" })),
        "config: set one of \"jar_path\" and \"class\", not both"
    );
    assert_eq!(check(serde_json::json!({ "args": [] })), "config: missing required field \"jar_path\" or \"class\"");
    assert!(check(serde_json::json!({ "class": "A", "jvm_opts": [] })).contains("unknown setting \"jvm_opts\""));
    assert_eq!(
        check(serde_json::json!({ "class": "A", "jvm_options": "-Xmx1g" })),
        "config: \"jvm_options\" must be a list of strings, got \"-Xmx1g\""
    );
    let task = java_task("bad", serde_json::json!({ "class_path": "/local" }));
    let err = JAVA.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::Config(_)), "{err}");
}
