//! Errors at the scenario boundary, and where in the file they point.
//!
//! Every error names the file. Syntax errors carry line and column; invalid values carry their
//! JSON path (`graph.operators[2].parallelism`) and, found by [`Locator`], the line and column
//! where that value starts. Invalid scenarios are reported all at once, not one per attempt.

use std::collections::BTreeMap;
use std::fmt;

/// One problem with a valid-JSON scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The JSON path of the offending value (`.` for the whole document).
    pub path: String,
    pub message: String,
    /// 1-based line and column of the value, when it exists in the file.
    pub position: Option<(usize, usize)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read the scenario: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}:{line}:{column}: syntax error: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// The file is something else (a counterexample, a `check` summary, a trace) or too large
    /// to be a scenario: the message says what it is and what to do.
    #[error("{file}: {message}")]
    NotAScenario { file: String, message: String },
    #[error("{}", render_invalid(file, problems))]
    Invalid { file: String, problems: Vec<Problem> },
}

impl ScenarioError {
    /// The problems of an `Invalid` error (empty for the other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn render_invalid(file: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match p.position {
            Some((line, col)) => out.push_str(&format!("{file}:{line}:{col}: ")),
            None => out.push_str(&format!("{file}: ")),
        }
        out.push_str(&format!("at {}: {}", p.path, p.message));
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}

/// The JSON path of `key` inside the object at `path`: `path.key` for a plain name (letters,
/// digits, `_`, `-`), `path["…"]` with the key as a JSON string otherwise, so that a key with a
/// dot, a bracket or a quote cannot be mistaken for two steps. A key longer than 64 characters is
/// cut, with `…`, so that a path stays readable.
pub fn key_step(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    let key = clip(key, 64);
    match (plain, path.is_empty()) {
        (true, true) => key,
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", serde_json::Value::String(key)),
    }
}

/// `s` cut to `max` characters, with `…` at the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A message with every overlong word (an echoed value, most often) cut to 60 characters, and
/// the cut said: errors stay readable whatever the input holds.
pub fn clip_message(msg: &str) -> String {
    if msg.len() <= 200 {
        return msg.to_string();
    }
    let mut out = String::with_capacity(256);
    for (i, word) in msg.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // `value`, → the quotes stay around the cut value, the comma after the note.
        let body = word.trim_end_matches([',', '.', ';', ':']);
        let after = &word[body.len()..];
        let core = body.trim_matches(['`', '"', '\'']);
        let n = core.chars().count();
        if n > 80 {
            let open = &body[..body.find(core).unwrap_or(0)];
            let close = &body[open.len() + core.len()..];
            out.push_str(&format!("{open}{}{close} ({n} characters){after}", clip(core, 60)));
        } else {
            out.push_str(word);
        }
    }
    out
}

/// The path serde_path_to_error found, written as the rest of ftsim writes paths
/// (`graph.operators[2].id`, keys escaped by [`key_step`]); `.` for the whole document.
pub fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => out = key_step(&out, key),
            Segment::Enum { variant } => out = key_step(&out, variant),
            Segment::Unknown => out = key_step(&out, "?"),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// Maps each JSON path of a document to the position where its value starts.
///
/// Only used on text that serde_json already accepted, so the scanner can be small: it never
/// has to report a syntax error, and nesting is bounded by serde_json's recursion limit.
#[derive(Debug, Default)]
pub struct Locator {
    positions: BTreeMap<String, (usize, usize)>,
}

impl Locator {
    pub fn new(text: &str) -> Locator {
        let mut scanner =
            Scanner { bytes: text.as_bytes(), at: 0, line: 1, col: 1, out: BTreeMap::new() };
        scanner.skip_ws();
        scanner.value(String::new());
        Locator { positions: scanner.out }
    }

    /// The position of `path`, or of its nearest ancestor that exists in the file.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        loop {
            if let Some(&pos) = self.positions.get(&p) {
                return Some(pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    col: usize,
    out: BTreeMap<String, (usize, usize)>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) {
        if let Some(b) = self.peek() {
            self.at += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if b & 0xC0 != 0x80 {
                // Count characters, not UTF-8 continuation bytes.
                self.col += 1;
            }
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn value(&mut self, path: String) {
        let key = if path.is_empty() { ".".to_string() } else { path.clone() };
        self.out.insert(key, (self.line, self.col));
        match self.peek() {
            Some(b'{') => {
                self.bump();
                self.skip_ws();
                while let Some(b) = self.peek() {
                    if b == b'}' {
                        self.bump();
                        break;
                    }
                    if b == b',' {
                        self.bump();
                        self.skip_ws();
                        continue;
                    }
                    let name = self.string();
                    self.skip_ws();
                    if self.peek() == Some(b':') {
                        self.bump();
                    }
                    self.skip_ws();
                    let child = key_step(&path, &name);
                    self.value(child);
                    self.skip_ws();
                }
            }
            Some(b'[') => {
                self.bump();
                self.skip_ws();
                let mut i = 0;
                while let Some(b) = self.peek() {
                    if b == b']' {
                        self.bump();
                        break;
                    }
                    if b == b',' {
                        self.bump();
                        self.skip_ws();
                        continue;
                    }
                    self.value(format!("{path}[{i}]"));
                    i += 1;
                    self.skip_ws();
                }
            }
            Some(b'"') => {
                self.string();
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bump();
                }
            }
        }
    }

    /// Reads a string literal and returns its contents (escapes decoded where simple).
    fn string(&mut self) -> String {
        let mut s = Vec::new();
        if self.peek() != Some(b'"') {
            return String::new();
        }
        self.bump();
        while let Some(b) = self.peek() {
            self.bump();
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(e) = self.peek() {
                        self.bump();
                        match e {
                            b'n' => s.push(b'\n'),
                            b't' => s.push(b'\t'),
                            b'u' => {
                                for _ in 0..4 {
                                    self.bump();
                                }
                                s.push(b'?');
                            }
                            other => s.push(other),
                        }
                    }
                }
                other => s.push(other),
            }
        }
        String::from_utf8_lossy(&s).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locator_finds_nested_values_and_falls_back_to_the_parent() {
        let text = "{\n  \"a\": [1,\n    {\"b\": true}],\n  \"c\": \"x\"\n}";
        let loc = Locator::new(text);
        assert_eq!(loc.find("."), Some((1, 1)));
        assert_eq!(loc.find("a"), Some((2, 8)));
        assert_eq!(loc.find("a[1].b"), Some((3, 11)));
        assert_eq!(loc.find("c"), Some((4, 8)));
        assert_eq!(loc.find("a[1].missing"), Some((3, 5)));
    }

    #[test]
    fn invalid_scenarios_list_every_problem_with_file_path_and_position() {
        let e = ScenarioError::Invalid {
            file: "s.json".into(),
            problems: vec![
                Problem { path: "graph".into(), message: "bad".into(), position: Some((3, 4)) },
                Problem { path: "seed".into(), message: "worse".into(), position: None },
            ],
        };
        assert_eq!(e.to_string(), "s.json:3:4: at graph: bad\ns.json: at seed: worse");
    }
}
