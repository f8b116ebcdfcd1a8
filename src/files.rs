//! Reading input files with a size cap, and writing output files atomically.
//!
//! Every file ftsim reads (scenarios, counterexamples, summaries, traces) goes through
//! [`read_capped`], so a wrong path such as `/dev/zero` or a runaway file is refused with a clear
//! error instead of growing memory without bound.
//!
//! Every file ftsim writes (counterexamples, reports, traces, pictures) is written to a
//! temporary file in the same directory and renamed over the target, so a reader never sees
//! half a file. The temporary file is removed on every path that does not rename it: an error
//! while writing, a failed rename, and an interrupt (SIGINT or SIGTERM, through the handler that
//! [`clean_up_on_interrupt`] installs).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The largest scenario, counterexample or summary file ftsim reads: 64 MiB. Large inputs are
/// meant to be generated (`"generate": {"records": N}`), not written out.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// The largest trace `render` reads: 1 GiB.
pub const MAX_TRACE_BYTES: u64 = 1 << 30;

/// Reads at most `limit` bytes of `path`; a longer file (or an endless device) is an error
/// that says what the limit is. `what` names the kind of file in messages.
pub fn read_capped(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{}: larger than {}, the limit for a {what} file; is it the right file?",
            path.display(),
            human_size(limit)
        ));
    }
    Ok(bytes)
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// Parses one of ftsim's own JSON files (a counterexample, a summary) into `T`. An error reads
/// `LINE:COLUMN: at PATH: MESSAGE (not WHAT)`, the caller putting the file name in front:
/// positions count characters from 1, and the path is written as scenario errors write theirs.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let error = match result {
        Ok(v) => match de.end() {
            Ok(()) => return Ok(v),
            Err(e) => (".".to_string(), e),
        },
        Err(e) => (crate::scenario::error::json_path(e.path()), e.into_inner()),
    };
    let (path, e) = error;
    let line = e.line().max(1);
    let column = crate::scenario::load::char_column(bytes, line, e.column().max(1));
    let message = e.to_string();
    let message = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]);
    Err(format!(
        "{line}:{column}: at {path}: {} (not {what})",
        crate::scenario::error::clip_message(message)
    ))
}

/// The temporary files being written now, removed by the interrupt handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs a handler for SIGINT and SIGTERM that removes every temporary file being written
/// and exits with code 130. The command line installs it once, at start; a library user who
/// has a handler of their own keeps it (a second installation fails quietly).
pub fn clean_up_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        remove_live();
        std::process::exit(130);
    });
}

fn remove_live() {
    let live = match LIVE.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    for p in live.iter() {
        let _ = std::fs::remove_file(p);
    }
}

/// A temporary file registered for clean-up; dropping it removes the file unless it was
/// renamed into place.
struct Temp {
    path: PathBuf,
    kept: bool,
}

impl Temp {
    fn new(path: PathBuf) -> Temp {
        if let Ok(mut live) = LIVE.lock() {
            live.push(path.clone());
        }
        Temp { path, kept: false }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.path);
        }
    }
}

/// Writes `path` through a temporary file in the same directory and a rename (the directory
/// must exist). `body` writes the content; its error is returned as is, and every error names
/// `path`, never the temporary file.
pub fn write_atomically_with<T>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<T, String>,
) -> Result<T, String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let mut temp =
        Temp::new(dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id())));
    let file = std::fs::File::create(&temp.path)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let value = body(&mut w)?;
    w.flush().map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    drop(w);
    std::fs::rename(&temp.path, path)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    temp.kept = true;
    Ok(value)
}

/// [`write_atomically_with`] for content already in memory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    write_atomically_with(path, |w| {
        w.write_all(bytes).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ftsim-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn reading_an_endless_file_stops_at_the_cap_and_says_so() {
        let e = read_capped(Path::new("/dev/zero"), "scenario", 1 << 20).unwrap_err();
        assert!(e.contains("/dev/zero: larger than 1 MiB, the limit for a scenario file"), "{e}");
    }

    #[test]
    fn a_file_at_the_cap_is_read_whole() {
        let dir = scratch("cap");
        let p = dir.join("f");
        std::fs::write(&p, vec![b'x'; 1024]).expect("written");
        assert_eq!(read_capped(&p, "x", 1024).expect("fits").len(), 1024);
        assert!(read_capped(&p, "x", 1023).is_err());
    }

    #[test]
    fn a_failed_body_leaves_no_temporary_file_and_no_target() {
        let dir = scratch("body");
        let target = dir.join("out.json");
        let e = write_atomically_with(&target, |w| {
            w.write_all(b"half").expect("buffered");
            Err::<(), _>("stopped".to_string())
        })
        .unwrap_err();
        assert_eq!(e, "stopped");
        assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary_file_and_names_the_target() {
        let dir = scratch("rename");
        // A directory where the file should go: the rename fails.
        let target = dir.join("taken");
        std::fs::create_dir_all(target.join("inside")).expect("a directory");
        let e = write_atomically(&target, b"content").unwrap_err();
        assert!(e.starts_with(&format!("{}: cannot write", target.display())), "{e}");
        assert!(!e.contains(".tmp"), "the error names the target, not the temporary: {e}");
        assert_eq!(entries(&dir), vec!["taken".to_string()]);
    }

    #[test]
    fn a_written_file_replaces_the_old_one_whole() {
        let dir = scratch("ok");
        let target = dir.join("a.json");
        std::fs::write(&target, b"old").expect("written");
        write_atomically(&target, b"new content").expect("written");
        assert_eq!(std::fs::read(&target).expect("readable"), b"new content");
        assert_eq!(entries(&dir), vec!["a.json".to_string()]);
    }
}
