//! `--set PATH=VALUE`: one field of a scenario changed from the command line
//! (`workload.arrival.rate_per_s=2000`, `topology.servers=8`, `config.replicas=3`,
//! `faults.schedule[0].at=9s`), for `run`, `sweep`, `curve` and `capacity`.
//!
//! The edit is made on the scenario's RON value, before it becomes the typed scenario: the file is
//! parsed with its model's types and written out in full (every field, defaults included:
//! [`registry::Entry::full`]), the value at the path is replaced in that tree
//! ([`crate::ron_text`]), and the text is parsed and validated again. So a path that names no
//! field is an error listing the fields that are there, and a value of the wrong type or out of
//! range is the parser's or the validator's error, both naming the flag and the path. Without
//! `--set` the file's own text is run, unchanged.

use registry::Entry;
use sim_core::parse::Diagnostic;
use sim_core::ron_text::{self, Item, Node};
use std::fmt;
use std::str::FromStr;

/// One `--set PATH=VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: String,
}

impl FromStr for Override {
    type Err = String;
    fn from_str(text: &str) -> Result<Override, String> {
        let (path, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not PATH=VALUE"))?;
        let (path, value) = (path.trim(), value.trim());
        if path.is_empty() || value.is_empty() {
            return Err(format!("`{text}` is not PATH=VALUE (both are needed)"));
        }
        segments(path)?;
        Ok(Override { path: path.to_string(), value: value.to_string() })
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.path, self.value)
    }
}

/// The `--set` flags as a command line would repeat them (for reproduce lines).
pub fn flags(sets: &[Override]) -> String {
    sets.iter().map(|s| format!(" --set {}", crate::shell_word(&s.to_string()))).collect()
}

/// Why overrides could not be applied.
#[derive(Debug)]
pub enum OverrideError {
    /// The scenario file itself does not parse (its own diagnostics, with positions).
    Source(Vec<Diagnostic>),
    /// A `--set` is wrong: the message names the flag and the path.
    Set(String),
}

/// One step of a field path: a field (or map key), or a list index.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Field(String),
    Index(usize),
}

fn segments(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() && out.is_empty() {
            return Err(format!("`{path}`: a path starts with a field name"));
        }
        if !name.is_empty() {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{path}`: `{name}` is not a field name"));
            }
            out.push(Segment::Field(name.to_string()));
        }
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']').ok_or_else(|| format!("`{path}`: a `[` without `]`"))?;
            let i = index.parse().map_err(|_| format!("`{path}`: `[{index}]` is not a list index"))?;
            out.push(Segment::Index(i));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return Err(format!("`{path}`: unexpected `{after}` after `]`"));
            }
        }
    }
    if out.is_empty() {
        return Err("an empty path".into());
    }
    Ok(out)
}

/// A key as written in the tree, compared without the quotes of a map key.
fn key_is(key: &str, name: &str) -> bool {
    key == name || key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) == Some(name)
}

fn describe(node: &Node) -> String {
    match node {
        Node::Atom(a) => format!("the value `{a}`"),
        Node::Group { head, open, .. } if !head.is_empty() => format!("`{head}{open}...`"),
        Node::Group { open: '[', .. } => "a list".into(),
        Node::Group { .. } => "a structure".into(),
    }
}

/// The value `text` written where `old` stood: a bare word or duration where a string stood is
/// quoted (`settle=2s`), and an integer where a float stood gets a `.0` (`rate_per_s=2000`).
fn value_node(old: &Node, text: &str) -> Result<Node, String> {
    if let Node::Atom(a) = old {
        if a.starts_with('"') && !text.starts_with('"') {
            return Ok(Node::Atom(format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))));
        }
        let float_before = a.contains(['.', 'e', 'E']) || a == "inf" || a == "NaN";
        if float_before && !text.is_empty() && text.trim_start_matches('-').chars().all(|c| c.is_ascii_digit()) {
            return Ok(Node::Atom(format!("{text}.0")));
        }
    }
    ron_text::parse(text).map_err(|e| format!("`{text}` is not a RON value ({e})"))
}

/// Replaces the value at `path` in `root` by `value`.
fn set_in(root: &mut Node, path: &str, value: &str) -> Result<(), String> {
    let segs = segments(path)?;
    let mut node = root;
    let mut walked = String::new();
    for (k, seg) in segs.iter().enumerate() {
        let here = if walked.is_empty() { "the scenario".to_string() } else { format!("`{walked}`") };
        let Node::Group { items, open, .. } = node else {
            return Err(format!("{here} is {}, which has no fields (in `{path}`)", describe(node)));
        };
        let i = match seg {
            Segment::Field(name) => {
                if *open == '[' {
                    return Err(format!("{here} is a list: index it as `{walked}[i]`"));
                }
                match items.iter().position(|it| it.key.as_deref().is_some_and(|key| key_is(key, name))) {
                    Some(i) => i,
                    None => {
                        let fields: Vec<&str> = items.iter().filter_map(|it| it.key.as_deref()).collect();
                        let none = if fields.is_empty() { " (none)".to_string() } else { String::new() };
                        return Err(format!(
                            "{here} has no field `{name}`{}; its fields: {}{none}",
                            crate::suggest::did_you_mean(name, fields.iter().copied()),
                            fields.join(", ")
                        ));
                    }
                }
            }
            Segment::Index(i) => {
                if *open != '[' {
                    return Err(format!("{here} is not a list"));
                }
                if *i >= items.len() {
                    return Err(format!("{here} has {} elements; [{i}] is past its end", items.len()));
                }
                *i
            }
        };
        walked = match seg {
            Segment::Field(name) if walked.is_empty() => name.clone(),
            Segment::Field(name) => format!("{walked}.{name}"),
            Segment::Index(i) => format!("{walked}[{i}]"),
        };
        let Item { value: child, .. } = &mut items[i];
        if k + 1 == segs.len() {
            *child = value_node(child, value)?;
            return Ok(());
        }
        if matches!(child, Node::Atom(a) if a == "None") {
            return Err(format!("`{walked}` is not set in this scenario (None): write it in the file first"));
        }
        node = child;
    }
    unreachable!("a path has at least one segment")
}

/// `source` with every override applied, parsed and validated again; `source` itself when there
/// are none.
pub fn apply(entry: &Entry, source: &str, sets: &[Override]) -> Result<String, OverrideError> {
    if sets.is_empty() {
        return Ok(source.to_string());
    }
    let full = (entry.full)(source).map_err(OverrideError::Source)?;
    let mut tree = ron_text::parse(&full).map_err(|e| OverrideError::Set(format!("the scenario as RON: {e}")))?;
    for s in sets {
        set_in(&mut tree, &s.path, &s.value).map_err(|e| OverrideError::Set(format!("--set {s}: {e}")))?;
    }
    let text = ron_text::write(&tree, 100);
    if let Err(problems) = (entry.check)(&text) {
        let lines: Vec<String> = problems
            .iter()
            .map(|d| {
                // The flag whose path the problem lies under, else all of them.
                let blame =
                    sets.iter().find(|s| d.path == s.path || d.path.starts_with(&format!("{}.", s.path))).map_or_else(
                        || sets.iter().map(|s| format!("--set {s}")).collect::<Vec<_>>().join(" "),
                        |s| format!("--set {s}"),
                    );
                let path = if d.path.is_empty() { String::new() } else { format!("{}: ", d.path) };
                format!("{blame}: {path}{}", d.message)
            })
            .collect();
        return Err(OverrideError::Set(lines.join("\n")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"(name: "s", model: "register", duration: "1s",
        topology: (servers: 3, clients: 1),
        workload: (ops: [("read", 1.0)], arrival: OpenLoop(rate_per_s: 50.0)))"#;

    fn set(text: &str) -> Result<String, String> {
        let entry = registry::find("register").unwrap();
        let o: Override = text.parse()?;
        apply(&entry, SRC, &[o]).map_err(|e| match e {
            OverrideError::Source(d) => format!("{d:?}"),
            OverrideError::Set(m) => m,
        })
    }

    #[test]
    fn a_field_is_changed_and_the_scenario_still_validates() {
        let text = set("workload.arrival.rate_per_s=2000").unwrap();
        assert!(text.contains("rate_per_s: 2000.0"), "{text}");
        let text = set("topology.servers=5").unwrap();
        assert!(text.contains("servers: 5"), "{text}");
        let text = set("settle=3s").unwrap();
        assert!(text.contains("settle: \"3s\""), "{text}");
        // The run is the run of the edited scenario.
        let entry = registry::find("register").unwrap();
        let info = (entry.check)(&set("seed=77").unwrap()).unwrap();
        assert_eq!(info.seed, 77);
    }

    #[test]
    fn bad_paths_and_values_name_the_flag_and_the_path() {
        let e = set("topology.serverz=5").unwrap_err();
        assert!(e.contains("--set topology.serverz=5") && e.contains("no field `serverz`"), "{e}");
        assert!(e.contains("did you mean `servers`") || e.contains("servers"), "{e}");
        let e = set("topology.servers=many").unwrap_err();
        assert!(e.starts_with("--set topology.servers=many: topology.servers:"), "{e}");
        let e = set("topology.servers=0").unwrap_err();
        assert!(e.contains("--set topology.servers=0: topology.servers"), "{e}");
        let e = set("workload.ops[3]=1").unwrap_err();
        assert!(e.contains("[3] is past its end"), "{e}");
        let e = set("duration.x=1").unwrap_err();
        assert!(e.contains("`duration` is the value"), "{e}");
        assert!("novalue".parse::<Override>().unwrap_err().contains("PATH=VALUE"));
        assert!("a.b[x]=1".parse::<Override>().unwrap_err().contains("not a list index"));
    }
}
