//! Reading scenario text into a validated [`Scenario`].

use super::error::{Locator, Problem, ScenarioError};
use super::model::Scenario;
use super::schema::ScenarioFile;
use super::validate::validate;
use std::path::Path;

/// The built-in scenario that `ftsim run` uses when no file is given.
pub const BUILTIN_NAME: &str = "<built-in wordcount>";
pub const BUILTIN_TEXT: &str = include_str!("../../scenarios/wordcount.json");

/// Loads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| ScenarioError::Read { file: file.clone(), reason: e.to_string() })?;
    if meta.is_dir() {
        return Err(ScenarioError::Read { file, reason: "a directory, not a file".into() });
    }
    let limit = crate::files::MAX_INPUT_BYTES;
    let bytes = crate::files::read_capped(path, "scenario", limit).map_err(|e| {
        let message = e.strip_prefix(&format!("{file}: ")).unwrap_or(&e).to_string();
        ScenarioError::NotAScenario { file: file.clone(), message }
    })?;
    load_bytes(&bytes, &file)
}

/// What a JSON file that is not a scenario is, when it is one of ftsim's own outputs: a
/// counterexample or a `check --json` summary. Only looked at once the text failed to parse
/// as a scenario, so a scenario pays nothing for it.
pub fn other_kind(bytes: &[u8]) -> Option<&'static str> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let obj = value.as_object()?;
    if obj.contains_key("ftsim_counterexample") {
        Some("counterexample")
    } else if obj.contains_key("seeds_per_sec") && obj.contains_key("scenarios") {
        Some("summary")
    } else {
        None
    }
}

/// Whether `bytes` hold a counterexample file (for `check`, which skips them in directories).
pub fn is_counterexample(bytes: &[u8]) -> bool {
    // A cheap look for the key before a parse.
    bytes.windows(22).any(|w| w == b"\"ftsim_counterexample\"")
        && other_kind(bytes) == Some("counterexample")
}

/// The built-in default scenario.
pub fn builtin() -> Scenario {
    load_bytes(BUILTIN_TEXT.as_bytes(), BUILTIN_NAME)
        .expect("the built-in scenario is valid: a unit test loads it")
}

/// Parses and validates scenario text; `origin` names it in messages.
pub fn load_bytes(bytes: &[u8], origin: &str) -> Result<Scenario, ScenarioError> {
    let raw = parse(bytes, origin)?;
    // The text parsed, so it is UTF-8.
    let text = String::from_utf8_lossy(bytes);
    let mut scenario =
        validate(&raw, origin).map_err(|problems| located(origin, &text, problems))?;
    let json: serde_json::Value = serde_json::from_slice(bytes).expect("it parsed as a scenario");
    scenario.json = std::sync::Arc::new(json);
    Ok(scenario)
}

/// Validates a scenario given as a JSON value (a counterexample's, a shrinker's candidate).
pub fn load_value(value: &serde_json::Value, origin: &str) -> Result<Scenario, ScenarioError> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    load_bytes(text.as_bytes(), origin)
}

/// Parses scenario text into the schema types, without semantic checks.
pub fn parse(bytes: &[u8], origin: &str) -> Result<ScenarioFile, ScenarioError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<ScenarioFile, _> = serde_path_to_error::deserialize(&mut de);
    let raw = match result {
        Ok(raw) => raw,
        Err(err) => {
            match other_kind(bytes) {
                Some("counterexample") => {
                    return Err(ScenarioError::NotAScenario {
                        file: origin.to_string(),
                        message: format!(
                            "a counterexample, not a scenario: re-run it with `ftsim replay {origin}`"
                        ),
                    })
                }
                Some(_) => {
                    return Err(ScenarioError::NotAScenario {
                        file: origin.to_string(),
                        message: "a `check --json` summary, not a scenario: combine shards with `ftsim merge`".into(),
                    })
                }
                None => {}
            }
            let path = super::error::json_path(err.path());
            let inner = err.into_inner();
            return Err(classify(origin, path, inner, bytes));
        }
    };
    // Trailing characters after the document.
    if let Err(e) = de.end() {
        return Err(classify(origin, ".".into(), e, bytes));
    }
    Ok(raw)
}

fn classify(origin: &str, path: String, e: serde_json::Error, bytes: &[u8]) -> ScenarioError {
    use serde_json::error::Category;
    let top_is_object = top_is_object(bytes);
    let line = e.line().max(1);
    let column = char_column(bytes, line, e.column().max(1));
    let message = super::error::clip_message(&strip_position(&e.to_string()));
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ScenarioError::Syntax { file: origin.to_string(), line, column, message }
        }
        Category::Data if path == "." && !top_is_object => ScenarioError::Invalid {
            file: origin.to_string(),
            problems: vec![Problem {
                path,
                message: "a scenario is a JSON object: {\"name\": …, \"graph\": {…}, …}".into(),
                position: Some((line, column)),
            }],
        },
        Category::Data => ScenarioError::Invalid {
            file: origin.to_string(),
            problems: vec![Problem { path, message, position: Some((line, column)) }],
        },
    }
}

/// serde_json counts columns in bytes; editors (and our other positions, see `Locator`) count
/// characters. Converts byte column `byte_col` (1-based) of `line` (1-based) to characters.
pub(crate) fn char_column(bytes: &[u8], line: usize, byte_col: usize) -> usize {
    let start = if line <= 1 {
        0
    } else {
        match bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 2) {
            Some((i, _)) => i + 1,
            None => return byte_col,
        }
    };
    let end = (start + byte_col - 1).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..end]).chars().count() + 1
}

fn top_is_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn located(origin: &str, text: &str, problems: Vec<(String, String)>) -> ScenarioError {
    let locator = Locator::new(text);
    let problems = problems
        .into_iter()
        .map(|(path, message)| {
            let position = locator.find(&path);
            Problem { path, message: super::error::clip_message(&message), position }
        })
        .collect();
    ScenarioError::Invalid { file: origin.to_string(), problems }
}
