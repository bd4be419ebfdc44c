//! Recorded workloads: a scenario's `arrival: Trace(file: "...")` names a CSV or JSON-lines file
//! of operations. When the scenario is loaded, the file is read and its operations are written
//! into the scenario's text (`Trace(file: "...", ops: [...])`, on the same line, so every other
//! line and column stays where the user wrote it). From then on the scenario is self-contained:
//! sweeps, shrinks, replays and results files carry the operations, not the path.
//!
//! File formats (`at` is a duration such as `"1.5ms"`, or a number of seconds):
//! - `.csv`: `at,op,key[,client]` per line; an optional header line starting with `at`; blank
//!   lines and lines starting with `#` are skipped.
//! - `.jsonl` / `.ndjson`: one object per line, `{"at": "10ms", "op": "write", "key": 7, "client": 1}`
//!   (`client` optional).

use sim_core::parse::{self, Diagnostic};
use std::fmt::Write as _;
use std::path::Path;

/// One operation read from a trace, time in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceOp {
    pub at_ns: u64,
    pub op: String,
    pub key: u64,
    pub client: u32,
}

/// `source` with its trace's operations written in, if its arrival is a `Trace`; otherwise
/// `source` unchanged. `scenario` is the scenario file (the trace path is relative to its folder).
pub fn inline(source: &str, scenario: &Path) -> Result<String, Vec<Diagnostic>> {
    let Some(arrival) = parse::locate(source, "workload.arrival") else { return Ok(source.to_string()) };
    let Some(arrival_at) = offset(source, arrival) else { return Ok(source.to_string()) };
    if !source[arrival_at..].starts_with("Trace") {
        return Ok(source.to_string());
    }
    let diag = |pos: (usize, usize), path: &str, message: String| {
        vec![Diagnostic { line: Some(pos.0), col: Some(pos.1), path: path.into(), message }]
    };
    let file_pos = parse::locate(source, "workload.arrival.file").unwrap_or(arrival);
    if file_pos == arrival {
        // The parser reports the missing field with its own words.
        return Ok(source.to_string());
    }
    // Operations already written (a scenario that `simctl shrink` wrote back) are used as they
    // are: the file is not read again.
    if parse::locate(source, "workload.arrival.ops").unwrap_or(arrival) != arrival {
        return Ok(source.to_string());
    }
    let start = offset(source, file_pos).expect("a located position is inside the source");
    let Some((name, end)) = string_literal(&source[start..]) else {
        return Err(diag(file_pos, "workload.arrival.file", "expected the trace file's path as a string".into()));
    };
    let path = scenario.parent().unwrap_or(Path::new(".")).join(&name);
    let ops = read(&path).map_err(|m| diag(file_pos, "workload.arrival.file", m))?;
    let mut text = String::with_capacity(source.len() + ops.len() * 48);
    text.push_str(&source[..start + end]);
    text.push_str(", ops: [");
    for (i, o) in ops.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        // `op` was checked to be a plain name when read.
        let _ = write!(text, "(at: \"{}ns\", op: \"{}\", key: {}, client: {})", o.at_ns, o.op, o.key, o.client);
    }
    text.push(']');
    text.push_str(&source[start + end..]);
    Ok(text)
}

/// The byte offset of a 1-based (line, column) position (columns count characters).
fn offset(source: &str, (line, col): (usize, usize)) -> Option<usize> {
    let line_start = if line == 1 { 0 } else { source.match_indices('\n').nth(line - 2)?.0 + 1 };
    let rest = &source[line_start..];
    Some(line_start + rest.char_indices().nth(col - 1).map_or(rest.len(), |(i, _)| i))
}

/// A RON string literal at the start of `text`: its value and the byte length of the literal.
fn string_literal(text: &str) -> Option<(String, usize)> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        match (escaped, c) {
            (true, _) => {
                value.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '"') => return Some((value, i + 1)),
            (false, _) => value.push(c),
        }
    }
    None
}

/// Reads a trace file: every problem is reported as `path:line: message`.
pub fn read(path: &Path) -> Result<Vec<TraceOp>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the trace {}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let json = match ext {
        "csv" => false,
        "jsonl" | "ndjson" => true,
        _ => {
            return Err(format!(
                "the trace {} must end in .csv or .jsonl (or .ndjson), to say its format",
                path.display()
            ));
        }
    };
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (!json && i == 0 && line.starts_with("at")) {
            continue;
        }
        let op = if json { json_line(line) } else { csv_line(line) };
        ops.push(op.map_err(|m| format!("{}:{}: {m}", path.display(), i + 1))?);
    }
    if ops.is_empty() {
        return Err(format!("the trace {} holds no operations", path.display()));
    }
    Ok(ops)
}

fn csv_line(line: &str) -> Result<TraceOp, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if !(3..=4).contains(&fields.len()) {
        return Err(format!("expected `at,op,key[,client]`, got {} fields", fields.len()));
    }
    let at_ns = time(fields[0])?;
    let key = fields[2].parse().map_err(|_| format!("key `{}` is not a whole number", fields[2]))?;
    let client = match fields.get(3) {
        Some(c) => c.parse().map_err(|_| format!("client `{c}` is not a whole number"))?,
        None => 0,
    };
    Ok(TraceOp { at_ns, op: name(fields[1])?, key, client })
}

fn json_line(line: &str) -> Result<TraceOp, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let field = |k: &str| v.get(k).ok_or_else(|| format!("missing field `{k}`"));
    let at_ns = match field("at")? {
        serde_json::Value::String(s) => time(s)?,
        n => time(&n.to_string())?,
    };
    let op = name(field("op")?.as_str().ok_or("`op` must be a string")?)?;
    let key = field("key")?.as_u64().ok_or("`key` must be a whole number")?;
    let client = match v.get("client") {
        Some(c) => c.as_u64().and_then(|c| u32::try_from(c).ok()).ok_or("`client` must be a whole number")?,
        None => 0,
    };
    Ok(TraceOp { at_ns, op, key, client })
}

/// A duration with a unit, or a number of seconds.
fn time(text: &str) -> Result<u64, String> {
    if let Ok(s) = text.parse::<f64>() {
        if !(s.is_finite() && s >= 0.0 && s * 1e9 < u64::MAX as f64) {
            return Err(format!("time `{text}` must be a non-negative number of seconds"));
        }
        return Ok((s * 1e9).round() as u64);
    }
    sim_core::time::parse_duration(text).map(|d| d.0)
}

/// An operation name: letters, digits, `_`, `-`, `.` (it is written into the scenario's text).
fn name(text: &str) -> Result<String, String> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        Ok(text.to_string())
    } else {
        Err(format!("operation `{text}` is not a name (letters, digits, _ - .)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of trace files for one test, removed when the test ends (tests run in parallel, so
    /// each has its own).
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("simctl-trace-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_csv_and_jsonl_alike() {
        let dir = Scratch::new("alike");
        let csv = dir.file("t.csv", "at,op,key,client\n# a comment\n0.001,write,7\n1.5ms, read, 7, 1\n");
        let jsonl = dir.file(
            "t.jsonl",
            "{\"at\": 0.001, \"op\": \"write\", \"key\": 7}\n\n{\"at\": \"1.5ms\", \"op\": \"read\", \"key\": 7, \"client\": 1}\n",
        );
        let want = vec![
            TraceOp { at_ns: 1_000_000, op: "write".into(), key: 7, client: 0 },
            TraceOp { at_ns: 1_500_000, op: "read".into(), key: 7, client: 1 },
        ];
        assert_eq!(read(&csv).unwrap(), want);
        assert_eq!(read(&jsonl).unwrap(), want);
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_line() {
        let dir = Scratch::new("bad");
        let p = dir.file("bad.csv", "0.001,write,7\n0.002,write,seven\n");
        let e = read(&p).unwrap_err();
        assert!(e.ends_with("bad.csv:2: key `seven` is not a whole number"), "{e}");
        let e = read(&dir.file("bad.jsonl", "{\"at\": -1, \"op\": \"w\", \"key\": 1}\n")).unwrap_err();
        assert!(e.contains("bad.jsonl:1: time `-1`"), "{e}");
        let e = read(&dir.file("t.txt", "0,w,1\n")).unwrap_err();
        assert!(e.contains("must end in .csv or .jsonl"), "{e}");
        let e = read(&dir.file("empty.csv", "at,op,key\n")).unwrap_err();
        assert!(e.contains("holds no operations"), "{e}");
        let e = read(&dir.file("q.csv", "0,\"w\",1\n")).unwrap_err();
        assert!(e.contains("is not a name"), "{e}");
    }

    #[test]
    fn inlining_keeps_every_other_line_in_place() {
        let dir = Scratch::new("inline");
        let p = dir.file("s.csv", "0.001,write,7\n0.002,read,7,1\n");
        let scenario = p.with_file_name("x.ron");
        let src = "Scenario(\n  workload: Some((\n    arrival: Trace(file: \"s.csv\"),\n  )),\n  seed: 1,\n)\n";
        let out = inline(src, &scenario).unwrap();
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(out.contains(
            "Trace(file: \"s.csv\", ops: [(at: \"1000000ns\", op: \"write\", key: 7, client: 0), \
             (at: \"2000000ns\", op: \"read\", key: 7, client: 1)]),"
        ));
        // Not a trace: unchanged.
        let plain = "Scenario(workload: Some((arrival: OpenLoop(rate_per_s: 1.0))))";
        assert_eq!(inline(plain, &scenario).unwrap(), plain);
        // A missing file is named at the `file` field.
        let e = inline(&src.replace("s.csv", "nope.csv"), &scenario).unwrap_err();
        assert_eq!((e[0].line, e[0].col, e[0].path.as_str()), (Some(3), Some(26), "workload.arrival.file"));
        assert!(e[0].message.contains("cannot read the trace"), "{}", e[0].message);
        // Operations already written beside the file (a shrunk scenario) are kept; the file is
        // not read.
        let written = src.replace("\"s.csv\"", "\"gone.csv\", ops: []");
        assert_eq!(inline(&written, &scenario).unwrap(), written);
    }
}
