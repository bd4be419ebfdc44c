//! Writing output atomically, so an interrupted simctl never leaves a mix of two runs behind.
//!
//! - A report folder (`run`, `replay`) is written whole: every file into a fresh hidden folder
//!   beside it (`.NAME.tmp-PID`), then the old folder is renamed aside (`.NAME.old-PID`), the new
//!   one renamed into place, and the old one removed. A reader sees the old report or the new one,
//!   never the new `summary.json` beside the old `index.html`; a kill between the two renames
//!   leaves the old report aside and the new one complete beside it.
//! - A file in a folder that holds more than the report (a sweep's `summary.md` beside its
//!   `results.jsonl`) is written to a temporary file in the same folder and renamed over the old.
//!
//! Leftovers of a process that was killed (temporary files and folders whose process is gone) are
//! removed by the next write to the same place.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Writes `files` as the folder `dir`, replacing what is there as a whole. Refuses to replace a
/// folder that holds anything but report files (a sub-folder, a file of another kind), so a
/// mistyped `--out` cannot remove a folder of the user's.
pub fn write_folder(dir: &Path, files: &[(String, String)]) -> Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} does not name a folder", dir.display()))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    remove_leftovers(parent, &format!(".{name}."), true)?;
    if dir.exists() {
        check_replaceable(dir)?;
    }
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.tmp-{pid}"));
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    for (file, contents) in files {
        let path = tmp.join(file);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    if dir.exists() {
        let old = parent.join(format!(".{name}.old-{pid}"));
        std::fs::rename(dir, &old).with_context(|| format!("moving the old {} aside", dir.display()))?;
        std::fs::rename(&tmp, dir).with_context(|| format!("renaming to {}", dir.display()))?;
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else {
        std::fs::rename(&tmp, dir).with_context(|| format!("renaming to {}", dir.display()))?;
    }
    Ok(())
}

/// Writes each of `files` into the folder `dir` (created if needed), each atomically, leaving the
/// folder's other files alone.
pub fn write_into(dir: &Path, files: &[(String, String)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, contents) in files {
        remove_leftovers(dir, &format!(".{name}."), false)?;
        let target = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &target).with_context(|| format!("renaming to {}", target.display()))?;
    }
    Ok(())
}

/// What a report folder may hold and still be replaced whole.
const REPORT_EXTENSIONS: [&str; 5] = ["html", "json", "jsonl", "md", "svg"];

fn check_replaceable(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!("{} exists and is not a folder", dir.display());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let is_report_file = entry.file_type()?.is_file()
            && path.extension().is_some_and(|x| REPORT_EXTENSIONS.iter().any(|e| x == *e))
            || entry.file_name().to_string_lossy().contains(".tmp-");
        if !is_report_file {
            bail!(
                "{} holds {}, which is not part of a simctl report: not replacing it (choose another --out)",
                dir.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Removes `PREFIX{tmp,old}-PID` entries of `dir` whose process is gone (folders when `folders`,
/// else files).
fn remove_leftovers(dir: &Path, prefix: &str, folders: bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(prefix) else { continue };
        let Some(pid) = rest.strip_prefix("tmp-").or_else(|| rest.strip_prefix("old-")) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if process_alive(pid) {
            continue;
        }
        let path: PathBuf = entry.path();
        let removed =
            if folders && path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.with_context(|| format!("removing the leftover {}", path.display()))?;
    }
    Ok(())
}

/// Whether process `pid` is running (Linux: it has a /proc entry; elsewhere only this process
/// counts as alive).
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}
