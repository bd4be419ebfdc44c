//! Running the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn simctl(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(args)
        .current_dir(repo_root())
        .env("CI", "1")
        .output()
        .expect("simctl runs");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

/// A fresh, empty folder for one test's output.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("simctl-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes a scenario into `dir` and returns its path as a string.
pub fn write_scenario(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p.display().to_string()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// A small register scenario with extra fields spliced in before the closing parenthesis.
pub fn register_scenario(extra: &str) -> String {
    format!(
        r#"Scenario(
    name: "t",
    model: "register",
    seed: 3,
    duration: "2s",
    settle: "200ms",
    topology: (servers: 3, clients: 2),
    workload: (ops: [("read", 0.8), ("write", 0.2)], arrival: OpenLoop(rate_per_s: 200.0)),
{extra}
)"#
    )
}

/// Runs simctl with its stdout given by `stdout` (a closed pipe, a full disk); returns the exit
/// code and stderr.
pub fn simctl_with_stdout(args: &[&str], stdout: Stdout) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simctl"));
    cmd.args(args).current_dir(repo_root()).env("CI", "1").stderr(std::process::Stdio::piped());
    let child = match stdout {
        Stdout::ClosedPipe => {
            let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().expect("simctl runs");
            // The reader goes away before simctl prints anything (as `| head` does after its lines).
            drop(child.stdout.take());
            child
        }
        Stdout::Full => {
            let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full exists on Linux");
            cmd.stdout(full).spawn().expect("simctl runs")
        }
    };
    let out = child.wait_with_output().expect("simctl finishes");
    (out.status.code().expect("exited, not killed"), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Where [`simctl_with_stdout`] sends stdout.
pub enum Stdout {
    /// A pipe whose reader has gone.
    ClosedPipe,
    /// `/dev/full`: every write fails with "no space left on device".
    Full,
}
