//! A scenario written back as the file a person would write: only what differs from the
//! defaults, in the documented spelling (`topology: (servers: 3)`, durations as `"250ms"`, no
//! internal type names), so `simctl shrink`'s output reads like the scenario it came from.
//!
//! The scenario is serialized by `ron` (structs without their type names, `Some` implicit, as the
//! parser reads them) and parsed here into a small tree of what `ron` writes; then every field is
//! left out, one at a time, where the text still parses back to the same scenario (the caller's
//! check): what remains is what differs from the defaults.

use std::fmt::Write as _;

/// A value as `ron` writes it: an atom (a number, a string, `true`, a unit variant), or a group:
/// `(...)`, `[...]` or `{...}`, with the name of its enum variant in front if any.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Atom(String),
    Group { head: String, open: char, items: Vec<Item> },
}

/// One element of a group: `field: value`, `key: value` in a map, or a bare value.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Option<String>,
    pub value: Node,
}

/// Parses what `ron::ser` writes (not RON in general: no comments, raw identifiers or chars).
pub fn parse(text: &str) -> Result<Node, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let node = p.value()?;
    p.ws();
    if p.i != p.s.len() { Err(format!("unexpected text at byte {}", p.i)) } else { Ok(node) }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn text(&self, from: usize) -> String {
        String::from_utf8_lossy(&self.s[from..self.i]).into_owned()
    }

    fn value(&mut self) -> Result<Node, String> {
        self.ws();
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        b'\\' => self.i += 1,
                        b'"' => return Ok(Node::Atom(self.text(start))),
                        _ => {}
                    }
                }
                Err("an unterminated string".into())
            }
            Some(c @ (b'(' | b'[' | b'{')) => self.group(String::new(), c as char),
            Some(_) => {
                while self.peek().is_some_and(|c| !b"()[]{},: \n\t\r".contains(&c)) {
                    self.i += 1;
                }
                let word = self.text(start);
                if word.is_empty() {
                    return Err(format!("a value expected at byte {}", self.i));
                }
                if self.peek() == Some(b'(') { self.group(word, '(') } else { Ok(Node::Atom(word)) }
            }
            None => Err("a value expected at the end".into()),
        }
    }

    fn group(&mut self, head: String, open: char) -> Result<Node, String> {
        let close = match open {
            '(' => b')',
            '[' => b']',
            _ => b'}',
        };
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(Node::Group { head, open, items });
            }
            let first = self.value()?;
            self.ws();
            let item = if self.peek() == Some(b':') {
                self.i += 1;
                let key = match first {
                    Node::Atom(k) => k,
                    Node::Group { .. } => return Err("a group as a key".into()),
                };
                Item { key: Some(key), value: self.value()? }
            } else {
                Item { key: None, value: first }
            };
            items.push(item);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(format!("`,` expected at byte {}", self.i)),
            }
        }
    }
}

/// The items of the group at `path` (item indices from the top); an atom has none.
fn items_at<'a>(root: &'a mut Node, path: &[usize]) -> Option<&'a mut Vec<Item>> {
    let Node::Group { items, .. } = root else { return None };
    match path.split_first() {
        None => Some(items),
        Some((&i, rest)) => items_at(&mut items.get_mut(i)?.value, rest),
    }
}

/// `full` with every field left out that the scenario can do without: a field is removed, one at
/// a time and deepest last, where `same` still holds for the whole (the text parses back to the
/// same scenario), so what remains is what differs from the defaults, and a field that is
/// required, or whose default depends on where its type is used, stays written. Map entries
/// and list elements are never removed (they are data), but fields inside them may be. `keep`
/// names top-level fields kept whatever their value.
pub fn without_defaults(full: &Node, keep: &[&str], same: &dyn Fn(&Node) -> bool) -> Node {
    let mut root = full.clone();
    prune(&mut root, &mut Vec::new(), keep, same);
    root
}

fn prune(root: &mut Node, path: &mut Vec<usize>, keep: &[&str], same: &dyn Fn(&Node) -> bool) {
    let Some(Node::Group { open, .. }) = node_at(root, path) else { return };
    let removable = *open != '{';
    let count = items_at(root, path).map_or(0, |items| items.len());
    // From the last item, so a removal does not move the items still to visit.
    for i in (0..count).rev() {
        let Some(item) = items_at(root, path).and_then(|items| items.get(i)).cloned() else { continue };
        let Some(key) = item.key.as_deref() else {
            path.push(i);
            prune(root, path, &[], same);
            path.pop();
            continue;
        };
        if path.is_empty() && keep.contains(&key) {
            continue;
        }
        if removable {
            let items = items_at(root, path).expect("visited");
            let removed = items.remove(i);
            if same(root) {
                continue;
            }
            items_at(root, path).expect("visited").insert(i, removed);
        }
        path.push(i);
        prune(root, path, &[], same);
        path.pop();
    }
}

fn node_at<'a>(root: &'a Node, path: &[usize]) -> Option<&'a Node> {
    match path.split_first() {
        None => Some(root),
        Some((&i, rest)) => match root {
            Node::Group { items, .. } => node_at(&items.get(i)?.value, rest),
            Node::Atom(_) => None,
        },
    }
}

/// The text of a node: on one line where it fits in `width` columns, else one item per line.
pub fn write(node: &Node, width: usize) -> String {
    let mut out = String::new();
    write_at(node, 0, width, &mut out);
    out
}

fn one_line(node: &Node) -> String {
    match node {
        Node::Atom(a) => a.clone(),
        Node::Group { head, open, items } => {
            let close = closing(*open);
            let inner: Vec<String> = items
                .iter()
                .map(|i| match &i.key {
                    Some(k) => format!("{k}: {}", one_line(&i.value)),
                    None => one_line(&i.value),
                })
                .collect();
            format!("{head}{open}{}{close}", inner.join(", "))
        }
    }
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

fn write_at(node: &Node, indent: usize, width: usize, out: &mut String) {
    let flat = one_line(node);
    let Node::Group { head, open, items } = node else {
        out.push_str(&flat);
        return;
    };
    if indent + flat.len() <= width || items.is_empty() {
        out.push_str(&flat);
        return;
    }
    let pad = " ".repeat(indent + 4);
    let _ = writeln!(out, "{head}{open}");
    if items.iter().all(|i| matches!(i.value, Node::Atom(_))) {
        // Numbers and strings (a map of inputs, a list of values): as many to a line as fit.
        let mut line = String::new();
        for i in items {
            let text = match &i.key {
                Some(k) => format!("{k}: {},", one_line(&i.value)),
                None => format!("{},", one_line(&i.value)),
            };
            if !line.is_empty() && pad.len() + line.len() + 1 + text.len() > width {
                let _ = writeln!(out, "{pad}{line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&text);
        }
        let _ = writeln!(out, "{pad}{line}");
        let _ = write!(out, "{}{}", " ".repeat(indent), closing(*open));
        return;
    }
    for i in items {
        out.push_str(&pad);
        if let Some(k) = &i.key {
            let _ = write!(out, "{k}: ");
        }
        write_at(&i.value, indent + 4, width, out);
        out.push_str(",\n");
    }
    let _ = write!(out, "{}{}", " ".repeat(indent), closing(*open));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands in for "parses back to the same scenario": the text still holds these values (the
    /// others being defaults).
    fn holds<'a>(values: &'a [&'a str]) -> impl Fn(&Node) -> bool + 'a {
        move |n: &Node| {
            let text = one_line(n);
            values.iter().all(|v| text.contains(v))
        }
    }

    #[test]
    fn only_what_differs_from_the_defaults_is_kept() {
        let full = parse(
            r#"(name: "x", seed: 0, duration: "2s", topology: (servers: 5, clients: 2, zones: []),
               slas: [Measure(name: "m", min: None, max: 1.0)], expect: Pass)"#,
        )
        .unwrap();
        let needed = ["topology: (servers: 5", "Measure(name: \"m\"", "max: 1.0"];
        let min = without_defaults(&full, &["name", "duration"], &holds(&needed));
        assert_eq!(
            write(&min, 200),
            r#"(name: "x", duration: "2s", topology: (servers: 5), slas: [Measure(name: "m", max: 1.0)])"#
        );
        // Long lines break one item per line.
        assert_eq!(
            write(&min, 40),
            "(\n    name: \"x\",\n    duration: \"2s\",\n    topology: (servers: 5),\n    slas: [Measure(name: \"m\", max: 1.0)],\n)"
        );
        // What the parser would not read back the same way stays written.
        let min = without_defaults(&full, &["name", "duration"], &|_| false);
        assert_eq!(min, full);
    }

    #[test]
    fn a_long_map_of_numbers_fills_its_lines() {
        let node = parse(r#"{"a": 1.0, "bb": 2.0, "ccc": 3.0, "dddd": 4.0}"#).unwrap();
        assert_eq!(write(&node, 30), "{\n    \"a\": 1.0, \"bb\": 2.0,\n    \"ccc\": 3.0, \"dddd\": 4.0,\n}");
    }

    #[test]
    fn strings_with_brackets_and_escapes_survive() {
        let text = r#"(name: "a (b) [c], \"d\"", x: Some(-1.5e-7), m: {"k": 1})"#;
        let node = parse(text).unwrap();
        assert_eq!(one_line(&node), text);
    }
}
