//! Reading scenario files: RON text in, a typed [`Scenario`] out, or every problem with its line,
//! column and field path.
//!
//! Loading is two-phase because the `config` section's type depends on the model:
//! [`scenario_model`] reads only `model: "..."` (ignoring every other field), the caller picks the
//! model, and [`parse_scenario`] parses the whole file with that model's `Config`. Syntax errors and
//! type errors come from RON with a position; `serde_path_to_error` adds the field path
//! (`faults.schedule[2].at`). Validation problems (from [`Scenario::validate`]) carry only a path:
//! [`locate`] finds that path in the source text so they get a line and column too.

use crate::model::Model;
use crate::scenario::{Problem, Scenario};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// One problem in a scenario file: where (1-based line and column, when known), which field, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: Option<usize>,
    pub col: Option<usize>,
    /// The field path, e.g. `faults.schedule[2].at` (empty when the problem is the file as a whole).
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `line:col: path: message` (parts that are unknown are left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.col) {
            write!(f, "{l}:{c}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Phase one: only the `model` field; every other field is skipped unchecked.
#[derive(Deserialize)]
#[serde(rename = "Scenario")]
struct Header {
    model: String,
}

/// The model a scenario names (`model: "register"`), without looking at the rest of the file.
pub fn scenario_model(source: &str) -> Result<String, Vec<Diagnostic>> {
    deserialize::<Header>(source).map(|h| h.model)
}

/// Phase two: the whole scenario, with the model's configuration type `C`. Every bad value that
/// can be stood in for is reported (see [`deserialize_all`]), not just the first.
pub fn parse_scenario<C: DeserializeOwned + Default>(source: &str) -> Result<Scenario<C>, Vec<Diagnostic>> {
    match deserialize_all::<Scenario<C>>(source) {
        Parsed { value: Some(v), errors, .. } if errors.is_empty() => Ok(v),
        Parsed { errors, .. } => Err(errors),
    }
}

/// Parses and validates a scenario of model `M`: every problem, each located in the source. A
/// value that does not parse (a duration too large, a number out of range) is reported and the
/// rest of the file is still validated.
pub fn load_scenario<M: Model>(source: &str) -> Result<Scenario<M::Config>, Vec<Diagnostic>> {
    let parsed = deserialize_all::<Scenario<M::Config>>(source);
    let Some(scenario) = parsed.value else { return Err(parsed.errors) };
    let mut problems = scenario.validate::<M>();
    problems.extend(
        crate::verdict::validate_spec(
            &scenario.invariants,
            &scenario.may_be_empty,
            &scenario.may_also_fail,
            &scenario.slas,
            // `strict_estimates: true` makes every estimate strict (so `expect` may name them).
            &scenario
                .estimates
                .iter()
                .cloned()
                .map(|mut e| {
                    e.strict |= scenario.strict_estimates;
                    e
                })
                .collect::<Vec<_>>(),
            &scenario.expect,
            crate::verdict::ModelNames { op_kinds: M::OP_KINDS, checks: M::CHECKS },
        )
        .into_iter()
        .map(|(path, message)| Problem { path, message }),
    );
    // A stood-in value may be wrong in its own way (a duration of 0s is not positive): what
    // validation says at a path that did not parse is left out; the parse error stands for it.
    let stood_in = |path: &str| {
        parsed
            .patched
            .iter()
            .any(|p| path == p || path.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with(['.', '['])))
    };
    problems.retain(|p| !stood_in(&p.path));
    if problems.is_empty() && parsed.errors.is_empty() {
        return Ok(scenario);
    }
    let mut located = parsed.errors;
    located.extend(locate_problems(source, &problems));
    // In file order; problems without a position last.
    located.sort_by_key(|d| (d.line.is_none(), d.line, d.col));
    Err(located)
}

/// Gives each validation problem the position of its path in `source` (or of the nearest enclosing
/// field that is written out; a field left to its default has no position of its own).
pub fn locate_problems(source: &str, problems: &[Problem]) -> Vec<Diagnostic> {
    problems
        .iter()
        .map(|p| {
            let pos = locate(source, &p.path);
            Diagnostic {
                line: pos.map(|p| p.0),
                col: pos.map(|p| p.1),
                path: p.path.clone(),
                message: p.message.clone(),
            }
        })
        .collect()
}

fn deserialize<T: DeserializeOwned>(source: &str) -> Result<T, Vec<Diagnostic>> {
    let spanned = |e: ron::error::SpannedError, path: String| Diagnostic {
        line: Some(e.span.start.line),
        col: Some(e.span.start.col),
        path,
        message: e.code.to_string(),
    };
    // `implicit_some`: an optional field may be written `workload: (...)` as well as `Some((...))`.
    let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let mut de =
        ron::Deserializer::from_str_with_options(source, &options).map_err(|e| vec![spanned(e, String::new())])?;
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = clean_path(&e.path().to_string());
            let inner = e.into_inner();
            let located = de.span_error(inner);
            return Err(vec![spanned(located, path)]);
        }
    };
    de.end().map_err(|e| vec![spanned(de.span_error(e), String::new())])?;
    Ok(value)
}

/// What [`deserialize_all`] found.
struct Parsed<T> {
    /// The value, parsed from the text with every bad scalar stood in for; `None` when an error
    /// could not be stood in for (a syntax error, an unknown field).
    value: Option<T>,
    /// Every error, at its position in the original text.
    errors: Vec<Diagnostic>,
    /// Field paths whose values were stood in for.
    patched: Vec<String>,
}

/// At most this many values are stood in for in one file.
const PATCHES_MAX: usize = 32;

/// Stand-ins for a bad string (a duration: the longest one first, so that checks of the form
/// "before the end of the run" stay quiet) and for a bad number.
const STRING_STAND_INS: [&str; 2] = ["\"18446744073709551615ns\"", "\"0s\""];
const NUMBER_STAND_INS: [&str; 2] = ["1", "0"];

/// Deserializes `source`; when the error lies in a scalar (a string or a number), the scalar is
/// replaced by a stand-in and the text parsed again, so every such error is found.
fn deserialize_all<T: DeserializeOwned>(source: &str) -> Parsed<T> {
    let mut text = source.to_string();
    let mut edits: Vec<Edit> = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut patched = Vec::new();
    loop {
        let mut diag = match deserialize::<T>(&text) {
            Ok(v) => return Parsed { value: Some(v), errors, patched },
            Err(mut d) => d.remove(0),
        };
        let (line, col) = (diag.line.unwrap_or(1), diag.col.unwrap_or(1));
        let scalar = scalar_at(&text, line, col);
        // Report the error at its place in the original text (once per place).
        let (ol, oc) = original_position(&edits, line, col);
        (diag.line, diag.col) = (Some(ol), Some(oc));
        let again = edits.iter().rposition(|e| e.original == (ol, oc));
        if again.is_none() {
            errors.push(diag.clone());
        }
        let Some((start, end, is_string)) = scalar else { return Parsed { value: None, errors, patched } };
        let stand_ins = if is_string { &STRING_STAND_INS } else { &NUMBER_STAND_INS };
        let choice = again.map_or(0, |i| edits[i].choice + 1);
        if choice >= stand_ins.len() || edits.len() >= PATCHES_MAX {
            return Parsed { value: None, errors, patched };
        }
        let old: String = text.chars().skip(start).take(end - start).collect();
        let (sl, sc) = position_of(&text, start);
        let (ol, oc) = original_position(&edits, sl, sc);
        let replacement = stand_ins[choice];
        edits.push(Edit {
            line: sl,
            col: sc,
            old_len: old.chars().count(),
            new_len: replacement.len(),
            choice,
            original: (ol, oc),
        });
        if again.is_none() {
            patched.push(diag.path.clone());
        }
        let byte = |i: usize| text.char_indices().nth(i).map_or(text.len(), |(b, _)| b);
        let (bs, be) = (byte(start), byte(end));
        text.replace_range(bs..be, replacement);
    }
}

/// One replacement of a scalar by a stand-in.
struct Edit {
    /// Where the stand-in starts in the text it was put into (1-based line and column, in chars).
    line: usize,
    col: usize,
    old_len: usize,
    new_len: usize,
    choice: usize,
    /// Where the scalar it replaced starts in the original text.
    original: (usize, usize),
}

/// Maps a position in the text after `edits` back to the original text (a position inside a
/// stand-in maps to the start of the scalar it replaced).
fn original_position(edits: &[Edit], line: usize, col: usize) -> (usize, usize) {
    let (mut line, mut col) = (line, col);
    for e in edits.iter().rev() {
        if line != e.line || col < e.col {
            continue;
        }
        if col < e.col + e.new_len {
            (line, col) = e.original;
            // Earlier edits are already accounted for in `original`.
            return (line, col);
        }
        col = col + e.old_len - e.new_len;
    }
    (line, col)
}

/// The 1-based (line, column) of char index `i`.
fn position_of(text: &str, i: usize) -> (usize, usize) {
    let (mut line, mut col) = (1, 1);
    for c in text.chars().take(i) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// The string or number literal at (or just after the opening quote of) a 1-based position:
/// its char range and whether it is a string.
fn scalar_at(text: &str, line: usize, col: usize) -> Option<(usize, usize, bool)> {
    let mut lexer = Lexer::new(text);
    // The literals read before a syntax error count too.
    let _ = lexer.value();
    let i = lexer.chars.iter().enumerate().try_fold((1, 1), |(l, c), (i, ch)| {
        if (l, c) == (line, col) {
            return Err(i);
        }
        Ok(if *ch == '\n' { (l + 1, 1) } else { (l, c + 1) })
    });
    let i = i.err()?;
    lexer.scalars.iter().find(|s| s.0 <= i && i < s.1).copied()
}

/// serde_path_to_error writes `.` for the root and `?` for segments it cannot name.
fn clean_path(path: &str) -> String {
    if path == "." { String::new() } else { path.replace(".?", "").replace("?.", "").replace('?', "") }
}

// ---------------------------------------------------------------------------------------------
// Locating a field path in RON text: a small tolerant parser that keeps the position of every value.

#[derive(Debug)]
enum Node {
    /// `Name(a: 1, b: 2)` or `(a: 1)`.
    Struct {
        name: Option<String>,
        fields: Vec<(String, Pos, Node)>,
    },
    /// `Name(1, 2)` or `(1, 2)`.
    Tuple {
        name: Option<String>,
        items: Vec<(Pos, Node)>,
    },
    List(Vec<(Pos, Node)>),
    Map(Vec<(String, Pos, Node)>),
    /// A scalar (number, string, identifier); the text of its key form.
    Scalar(String),
}

type Pos = (usize, usize);

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    /// String and number literals: (start, end) char indices and whether it is a string.
    scalars: Vec<(usize, usize, bool)>,
}

impl Lexer {
    fn new(src: &str) -> Self {
        Lexer { chars: src.chars().collect(), i: 0, line: 1, col: 1, scalars: Vec::new() }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }
    fn peek2(&self) -> Option<char> {
        self.chars.get(self.i + 1).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn pos(&self) -> Pos {
        (self.line, self.col)
    }
    /// Skips whitespace, comments and `#![enable(...)]` attributes.
    fn skip(&mut self) {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    let mut depth = 1;
                    while depth > 0 {
                        match (self.bump(), self.peek()) {
                            (None, _) => return,
                            (Some('*'), Some('/')) => {
                                self.bump();
                                depth -= 1;
                            }
                            (Some('/'), Some('*')) => {
                                self.bump();
                                depth += 1;
                            }
                            _ => {}
                        }
                    }
                }
                (Some('#'), Some('!')) => {
                    let mut depth = 0;
                    while let Some(c) = self.bump() {
                        match c {
                            '[' => depth += 1,
                            ']' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => return,
            }
        }
    }
    fn eat(&mut self, c: char) -> bool {
        self.skip();
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        let mut s = String::new();
        if self.peek() == Some('r') && self.peek2() == Some('#') {
            self.bump();
            self.bump();
        }
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        (!s.is_empty()).then_some(s)
    }

    fn string(&mut self) -> Option<String> {
        // Raw strings: r"..." / r#"..."#.
        if self.peek() == Some('r') {
            self.bump();
            let mut hashes = 0;
            while self.peek() == Some('#') {
                self.bump();
                hashes += 1;
            }
            if self.bump() != Some('"') {
                return None;
            }
            let mut s = String::new();
            loop {
                let c = self.bump()?;
                if c == '"' {
                    let mut n = 0;
                    while n < hashes && self.peek() == Some('#') {
                        self.bump();
                        n += 1;
                    }
                    if n == hashes {
                        return Some(s);
                    }
                    s.push('"');
                    s.extend(std::iter::repeat_n('#', n));
                } else {
                    s.push(c);
                }
            }
        }
        let quote = self.bump()?;
        let mut s = String::new();
        loop {
            let c = self.bump()?;
            if c == '\\' {
                s.push(self.bump()?);
            } else if c == quote {
                return Some(s);
            } else {
                s.push(c);
            }
        }
    }

    fn value(&mut self) -> Option<(Pos, Node)> {
        self.skip();
        let pos = self.pos();
        let c = self.peek()?;
        let start = self.i;
        let node = match c {
            '"' | '\'' => {
                let s = self.string()?;
                self.scalars.push((start, self.i, true));
                Node::Scalar(s)
            }
            'r' if matches!(self.peek2(), Some('"') | Some('#')) && !self.raw_ident_ahead() => {
                let s = self.string()?;
                self.scalars.push((start, self.i, true));
                Node::Scalar(s)
            }
            '[' => {
                self.bump();
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value()?);
                    self.eat(',');
                }
                Node::List(items)
            }
            '{' => {
                self.bump();
                let mut entries = Vec::new();
                while !self.eat('}') {
                    let (_, key) = self.value()?;
                    if !self.eat(':') {
                        return None;
                    }
                    let (p, v) = self.value()?;
                    let key = match key {
                        Node::Scalar(s) => s,
                        _ => String::new(),
                    };
                    entries.push((key, p, v));
                    self.eat(',');
                }
                Node::Map(entries)
            }
            '(' => self.parens(None)?,
            c if c.is_alphabetic() || c == '_' => {
                let name = self.ident()?;
                self.skip();
                if self.peek() == Some('(') { self.parens(Some(name))? } else { Node::Scalar(name) }
            }
            _ => {
                let mut s = String::new();
                while let Some(c) = self.peek() {
                    if c.is_alphanumeric() || "+-._".contains(c) {
                        s.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                if s.is_empty() {
                    return None;
                }
                self.scalars.push((start, self.i, false));
                Node::Scalar(s)
            }
        };
        Some((pos, node))
    }

    fn raw_ident_ahead(&self) -> bool {
        // `r#name` (a raw identifier) versus `r#"..."` (a raw string).
        self.peek2() == Some('#') && self.chars.get(self.i + 2).is_some_and(|c| c.is_alphabetic() || *c == '_')
    }

    /// After a `(`: a struct if the first entry is `ident:` (not `ident::`), else a tuple.
    fn parens(&mut self, name: Option<String>) -> Option<Node> {
        self.bump(); // (
        self.skip();
        let save = (self.i, self.line, self.col);
        let is_struct = {
            let ok = self.ident().is_some() && {
                self.skip();
                self.peek() == Some(':') && self.peek2() != Some(':')
            };
            (self.i, self.line, self.col) = save;
            ok
        };
        if is_struct {
            let mut fields = Vec::new();
            while !self.eat(')') {
                self.skip();
                let key = self.ident()?;
                if !self.eat(':') {
                    return None;
                }
                let (p, v) = self.value()?;
                fields.push((key, p, v));
                self.eat(',');
            }
            Some(Node::Struct { name, fields })
        } else {
            let mut items = Vec::new();
            while !self.eat(')') {
                items.push(self.value()?);
                self.eat(',');
            }
            Some(Node::Tuple { name, items })
        }
    }
}

#[derive(Debug, PartialEq)]
enum Segment {
    Field(String),
    Index(usize),
    Key(String),
}

fn split_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<Segment>| {
        if !cur.is_empty() {
            out.push(Segment::Field(std::mem::take(cur)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '.' => flush(&mut cur, &mut out),
            '[' => {
                flush(&mut cur, &mut out);
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                let inner = inner.trim();
                if let Some(s) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    out.push(Segment::Key(s.to_string()));
                } else if let Ok(i) = inner.parse() {
                    out.push(Segment::Index(i));
                } else {
                    out.push(Segment::Key(inner.to_string()));
                }
            }
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Steps one segment down from `node`; `None` when the source does not spell it out.
fn step<'n>(node: &'n Node, pos: Pos, seg: &Segment) -> Option<(Pos, &'n Node)> {
    match (node, seg) {
        (Node::Struct { fields, name }, Segment::Field(f)) => {
            if let Some((_, p, v)) = fields.iter().find(|(k, _, _)| k == f) {
                return Some((*p, v));
            }
            // An enum variant written as `Variant(field: ...)`: the variant segment stays here.
            (name.as_deref() == Some(f.as_str())).then_some((pos, node))
        }
        (Node::Tuple { name, items }, seg) => {
            if let Segment::Field(f) = seg
                && name.as_deref() == Some(f.as_str())
            {
                return Some((pos, node));
            }
            // A newtype around a list (`Fail(["a", "b"])`): an index goes into the list.
            if let Segment::Index(_) = seg
                && let [(p, inner @ (Node::List(_) | Node::Map(_)))] = items.as_slice()
            {
                return step(inner, *p, seg);
            }
            if let Segment::Index(i) = seg
                && let Some((p, v)) = items.get(*i)
            {
                return Some((*p, v));
            }
            // `Some(x)` and one-field variants like `Partition(Isolate(3))`: look inside.
            if items.len() == 1 {
                return step(&items[0].1, items[0].0, seg);
            }
            None
        }
        (Node::List(items), Segment::Index(i)) => items.get(*i).map(|(p, v)| (*p, v)),
        (Node::Map(entries), Segment::Key(k) | Segment::Field(k)) => {
            entries.iter().find(|(key, _, _)| key == k).map(|(_, p, v)| (*p, v))
        }
        (Node::Map(entries), Segment::Index(i)) => {
            entries.iter().find(|(key, _, _)| key.parse::<usize>().ok() == Some(*i)).map(|(_, p, v)| (*p, v))
        }
        _ => None,
    }
}

/// The 1-based (line, column) where the value at `path` (like `faults.schedule[2].at`) starts in a
/// RON `source`. When the path leads into a field the file does not write out, the position of the
/// deepest enclosing value that it does write (at worst, the scenario itself); `None` only when
/// the source does not parse.
pub fn locate(source: &str, path: &str) -> Option<(usize, usize)> {
    let mut lexer = Lexer::new(source);
    let (root_pos, root) = lexer.value()?;
    let mut cur = (root_pos, &root);
    for seg in split_path(path) {
        match step(cur.1, cur.0, &seg) {
            Some(next) => cur = next,
            None => break,
        }
    }
    Some(cur.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"// a comment
#![enable(implicit_some)]
Scenario(
    name: "x",
    model: "register", /* block */
    faults: (schedule: [
        (at: "1s", fault: Crash(node: 1)),
        (at: "2s", fault: Restart(1)),
        (at: "3s",
         fault: Partition(Isolate(9))),
    ]),
    network: (link: (legs: {"put": Constant("1ms")})),
    disk: (nodes: {3: Constant("4ms")}),
    workload: Some((ops: [("get", 1.0)], arrival: OpenLoop(rate_per_s: 5.0))),
    expect: Fail(["a", "b"]),
)
"#;

    fn check(path: &str, expected: Option<(usize, usize)>) {
        assert_eq!(locate(SRC, path), expected, "{path}");
    }

    #[test]
    fn locates_paths() {
        check("name", Some((4, 11)));
        check("model", Some((5, 12)));
        check("faults.schedule[2].at", Some((9, 14)));
        check("faults.schedule[0].fault.Crash.node", Some((7, 39)));
        check("faults.schedule[1].fault.Restart", Some((8, 27)));
        check("faults.schedule[2].fault.Partition", Some((10, 17)));
        check("network.link.legs[\"put\"]", Some((12, 36)));
        check("disk.nodes[3]", Some((13, 23)));
        check("workload.arrival.rate_per_s", Some((14, 72)));
        check("workload.ops[0]", Some((14, 27)));
        check("expect.Fail[1]", Some((15, 24)));
        // Not written out: the nearest enclosing value that is.
        check("faults.nemesis.start", Some((6, 13)));
        check("topology.servers", Some((3, 1)));
    }

    #[test]
    fn locates_inside_nested_variants() {
        let src = "(faults: (schedule: [\n (at: \"1s\", fault: Partition(Split([[0, 1], [2, 7]]))),\n (at: \"2s\", fault: Partition(OneWay(from: [0], to: [9]))),\n]))";
        assert_eq!(locate(src, "faults.schedule[0].fault.Partition.Split[1][1]"), Some((2, 49)));
        assert_eq!(locate(src, "faults.schedule[1].fault.Partition.to[0]"), Some((3, 53)));
    }

    #[test]
    fn splits_paths() {
        assert_eq!(
            split_path("a.b[2].c[\"k\"]"),
            vec![
                Segment::Field("a".into()),
                Segment::Field("b".into()),
                Segment::Index(2),
                Segment::Field("c".into()),
                Segment::Key("k".into())
            ]
        );
    }

    #[derive(Deserialize, Debug, Default, serde::Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[serde(default)]
        replicas: u32,
    }

    #[test]
    fn reads_the_model_alone() {
        assert_eq!(scenario_model(SRC).unwrap(), "register");
        assert_eq!(scenario_model("(name: \"a\", model: \"m\", config: (whatever: 1))").unwrap(), "m");
    }

    #[test]
    fn optional_fields_take_some_or_the_bare_value() {
        let a = "(name: \"a\", model: \"m\", duration: \"1s\", report_interval: Some(\"10ms\"))";
        let b = "(name: \"a\", model: \"m\", duration: \"1s\", report_interval: \"10ms\")";
        let c = "(name: \"a\", model: \"m\", duration: \"1s\", report_interval: None)";
        let (a, b, c) =
            (parse_scenario::<Cfg>(a).unwrap(), parse_scenario::<Cfg>(b).unwrap(), parse_scenario::<Cfg>(c).unwrap());
        assert_eq!(a.report_interval, Some(crate::Duration::from_millis(10)));
        assert_eq!(a.report_interval, b.report_interval);
        assert_eq!(c.report_interval, None);
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse_scenario::<Cfg>("(\n  name: \"a\",\n  model: \"m\"\n  duration: \"1s\",\n)").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(4), "{e:?}");
    }

    #[test]
    fn type_error_has_path_and_position() {
        let src = "(\n name: \"a\",\n model: \"m\",\n duration: \"1s\",\n faults: (schedule: [(at: \"1 parsec\", fault: Heal)]),\n)";
        let e = parse_scenario::<Cfg>(src).unwrap_err();
        assert_eq!(e[0].path, "faults.schedule[0].at", "{e:?}");
        assert_eq!(e[0].line, Some(5), "{e:?}");
        assert!(e[0].message.contains("unknown unit"), "{e:?}");
    }

    /// Several absurd values: each is reported at its own place (a duration too large used to stop
    /// the parse, hiding the rest).
    #[test]
    fn every_bad_value_is_reported_not_just_the_first() {
        let src = "(\n name: \"a\",\n model: \"m\",\n duration: \"1000000d\",\n settle: \"99999999999d\",\n \
                   topology: (servers: 99999999999, clients: -1),\n faults: (schedule: [(at: \"1 parsec\", fault: Heal)]),\n)";
        let e = parse_scenario::<Cfg>(src).unwrap_err();
        let got: Vec<(Option<usize>, Option<usize>, &str)> =
            e.iter().map(|d| (d.line, d.col, d.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Some(4), Some(13), "duration"),
                (Some(5), Some(11), "settle"),
                (Some(6), Some(22), "topology.servers"),
                (Some(6), Some(45), "topology.clients"),
                (Some(7), Some(28), "faults.schedule[0].at"),
            ],
            "{e:#?}"
        );
        assert!(e[0].message.contains("too large"), "{e:?}");
        assert!(e[4].message.contains("unknown unit"), "{e:?}");
        // A syntax error still stops the parse, after the errors before it.
        let e = parse_scenario::<Cfg>("(name: \"a\", model: \"m\", duration: \"1000000d\", settle: (((").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn unknown_field_is_refused_with_path() {
        let src = "(\n name: \"a\",\n model: \"m\",\n duration: \"1s\",\n config: (replicaz: 3),\n)";
        let e = parse_scenario::<Cfg>(src).unwrap_err();
        assert_eq!(e[0].path, "config.replicaz", "{e:?}");
        assert_eq!(e[0].line, Some(5));
        assert!(e[0].message.contains("replicaz"), "{e:?}");
        let text = e[0].to_string();
        assert!(text.starts_with("5:"), "{text}");
    }
}
