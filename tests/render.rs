//! `ftsim render` through the built binary: every format of a real trace, determinism,
//! `--out`, and bad input (exit code 2 with file:line, never a panic).

use std::path::PathBuf;

mod common;
use common::{assert_exit, ftsim, stderr, stdout};

/// A directory in the temp directory, unique to this test and process, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ftsim-render-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temp dir is writable");
        TempDir(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("temp paths are UTF-8").to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.file(name);
        std::fs::write(&path, text).expect("the temp dir is writable");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the trace of `scenarios/faults/lost-notify.json` (seed 1) into `dir`.
fn lost_notify_trace(dir: &TempDir) -> String {
    let path = dir.file("lost-notify.jsonl");
    let o = ftsim(&["run", "scenarios/faults/lost-notify.json", "--trace", &path]);
    assert_exit(&o, 0);
    path
}

fn render(trace: &str, format: &str) -> String {
    let o = ftsim(&["render", trace, "--format", format]);
    assert_exit(&o, 0);
    stdout(&o)
}

/// Checks that the tags of an XML text nest and that every `&` starts an entity; returns the
/// number of elements.
fn check_xml(xml: &str) -> usize {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = 0;
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        for (k, _) in text.match_indices('&') {
            let entity = &text[k..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|e| entity.starts_with(e)),
                "a bare & in text: {}",
                &text[k..(k + 20).min(text.len())]
            );
        }
        let end = rest[i..].find('>').expect("every tag closes") + i;
        let tag = &rest[i + 1..end];
        assert!(!tag.contains('<'), "a `<` inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name, "</{name}> closes <{open}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().expect("a tag has a name");
            stack.push(name.to_string());
            elements += 1;
        } else {
            elements += 1;
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    elements
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn the_text_timeline_tells_the_lost_notice_and_the_recommit() {
    let dir = TempDir::new("text");
    let trace = lost_notify_trace(&dir);
    let text = render(&trace, "text");
    assert!(text.starts_with(&format!("ftsim trace {trace}: ")), "{text}");
    assert!(text.contains("lanes: jm, events[0], shift[0], out[0]"), "{text}");
    assert!(
        text.contains(
            "@46.074ms  out[0]     completion notice of checkpoint 2 lost on its way from jm"
        ),
        "{text}"
    );
    assert!(
        text.contains("@56.074ms  out[0]     recommits txn0.0.1 (79 records) on restore"),
        "{text}"
    );
    assert!(text
        .contains("    commits:   out[0] txn0.0.1 (79 records) @56.074ms, recommitted on restore"));
    assert!(text.contains("events[0] emitted 280 records (40 again, after a restore)"));
    assert!(!text.contains("\"event\""), "no raw JSON in the timeline");
    let all = ftsim(&["render", &trace, "--all"]);
    assert_exit(&all, 0);
    assert!(stdout(&all).contains("events[0]  emits record (k0, 1, ts 0) at offset 0"));
}

#[test]
fn the_svg_has_a_lane_per_task_and_a_cut_per_completed_checkpoint() {
    let dir = TempDir::new("svg");
    let trace = lost_notify_trace(&dir);
    let svg = render(&trace, "svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(check_xml(&svg) > 50);
    for lane in ["jm", "events[0]", "shift[0]", "out[0]"] {
        assert_eq!(count(&svg, &format!(">{lane}</text>")), 1, "one lane labelled {lane}");
    }
    let completed = std::fs::read_to_string(&trace)
        .expect("the trace is readable")
        .lines()
        .filter(|l| l.contains("\"event\":\"checkpoint_completed\""))
        .count();
    assert_eq!(completed, 4);
    assert_eq!(count(&svg, "<polyline class=\"cut\" "), completed);
    for cp in 1..=completed {
        assert!(svg.contains(&format!("<polyline class=\"cut\" data-checkpoint=\"{cp}\"")));
    }
    // The node crash stops all three tasks; the notices in flight to them are lost.
    assert_eq!(count(&svg, "class=\"lost-message\""), 3, "the lost notices are marked");
    assert!(svg.contains("recommit</text>"));
    assert!(svg.contains("class=\"blocked\""));
}

#[test]
fn the_html_page_holds_the_svg_the_legend_and_the_timeline() {
    let dir = TempDir::new("html");
    let trace = lost_notify_trace(&dir);
    let html = render(&trace, "html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("<title>ftsim trace "));
    assert!(html.contains("<svg") && html.contains("</svg>"));
    assert!(html.contains("How to read the diagram"));
    assert!(html.contains("completion notice of checkpoint 2 lost"));
    assert!(!html.contains("src=") && !html.contains("<script"), "self-contained");
}

#[test]
fn the_mermaid_diagram_is_a_sequence_diagram() {
    let dir = TempDir::new("mermaid");
    let trace = lost_notify_trace(&dir);
    let m = render(&trace, "mermaid");
    assert!(m.starts_with("sequenceDiagram\n"), "{m}");
    for p in ["participant jm", "participant t1 as events[0]", "participant t3 as out[0]"] {
        assert!(m.contains(p), "{p}\n{m}");
    }
    assert!(m.contains("    t1->>t2: barrier cp1\n"));
    assert!(m.contains("    t3->>jm: ack cp2\n"));
    assert!(m.contains("    jm-xt3: completion notice cp2 LOST\n"));
    assert!(m.contains("recommit on restore txn0.0.1 (79 records)"));
    assert!(!m.contains("trace cut here"), "a small trace is not cut");
}

#[test]
fn the_same_trace_renders_to_the_same_bytes_and_out_writes_them() {
    let dir = TempDir::new("determinism");
    let trace = lost_notify_trace(&dir);
    for format in ["text", "svg", "html", "mermaid"] {
        let first = render(&trace, format);
        assert_eq!(first, render(&trace, format), "{format} is deterministic");
        let out = dir.file(&format!("picture.{format}"));
        let o = ftsim(&["render", &trace, "--format", format, "--out", &out]);
        assert_exit(&o, 0);
        assert!(o.stdout.is_empty(), "--out writes nothing to stdout");
        assert_eq!(std::fs::read_to_string(&out).expect("--out wrote the file"), first);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
}

#[test]
fn a_task_name_of_65536_characters_renders_in_every_format() {
    let dir = TempDir::new("long-name");
    let name = format!("{}[0]", "n".repeat(65_533));
    let trace = dir.write(
        "long.jsonl",
        &format!(
            "{{\"t_us\":0,\"event\":\"deliver\",\"channel\":\"{name}->b[0]\",\"item\":\"end\"}}\n\
             {{\"t_us\":5,\"event\":\"task_finished\",\"task\":\"{name}\"}}\n\
             {{\"t_us\":9,\"event\":\"task_finished\",\"task\":\"b[0]\"}}\n"
        ),
    );
    let text = render(&trace, "text");
    assert!(text.contains(&format!("@0.005ms  {name}  finished\n")), "the name is whole");
    assert!(text.contains("@0.009ms  b[0]  "), "a short name is not padded to the long one");
    assert!(text.len() < 3 * 65_536 + 2_000, "the name is written a few times, not once per line");
    let svg = render(&trace, "svg");
    check_xml(&svg);
    assert!(svg.contains(&format!("<title>{name}</title>")), "the whole name is in a tooltip");
    let width: f64 = svg["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"".len()..]
        .split('"')
        .next()
        .and_then(|w| w.parse().ok())
        .expect("the svg has a width");
    assert!(width < 2_000.0, "the label column is capped: width {width}");
    let html = render(&trace, "html");
    assert!(html.contains(&format!("{name}  finished")));
    let mermaid = render(&trace, "mermaid");
    assert!(mermaid.contains(&format!("participant t1 as {name}\n")));
}

#[test]
fn bad_input_exits_2_with_file_and_line() {
    let dir = TempDir::new("bad");
    let good = r#"{"t_us":0,"event":"checkpoint_triggered","checkpoint":1}"#;
    let cases = [
        ("syntax.jsonl", format!("{good}\n{good}\n{{\"t_us\":5,\n"), ":3:10:", "not JSON"),
        (
            "kind.jsonl",
            format!("{good}\n{{\"t_us\":5,\"event\":\"teleported\"}}\n"),
            ":2:1:",
            "unknown event kind `teleported`",
        ),
        (
            "field.jsonl",
            format!("{good}\n{{\"t_us\":5,\"event\":\"snapshot_taken\",\"task\":\"a[0]\"}}\n"),
            ":2:1:",
            "lacks the field `checkpoint`",
        ),
        ("empty.jsonl", String::new(), ":", "the file has no events"),
    ];
    for (name, text, line, message) in cases {
        let path = dir.write(name, &text);
        let o = ftsim(&["render", &path, "--format", "svg"]);
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.starts_with(&format!("error: {path}{line}")), "{name}: {err}");
        assert!(err.contains("not a trace written by --trace"), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(o.stdout.is_empty(), "{name}: nothing on stdout");
    }
    let missing = dir.file("missing.jsonl");
    let o = ftsim(&["render", &missing]);
    assert_exit(&o, 2);
    assert!(stderr(&o).starts_with(&format!("error: {missing}: cannot read: ")));
    let o = ftsim(&["render", &dir.file("")]);
    assert_exit(&o, 2);
    let bytes = dir.file("binary.jsonl");
    std::fs::write(&bytes, b"{\"t_us\":0,\"event\":\"job_finished\"}\n\xff\xfe\n")
        .expect("writable");
    let o = ftsim(&["render", &bytes]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).starts_with(&format!(
            "error: {bytes}:2:1: not a trace written by --trace: not UTF-8 text"
        )),
        "{}",
        stderr(&o)
    );
    let ok = dir.write("ok.jsonl", good);
    let o = ftsim(&["render", &ok, "--format", "png"]);
    assert_exit(&o, 2);
}

#[test]
fn render_of_a_scenario_file_says_it_is_not_a_trace() {
    for scenario in ["scenarios/wordcount.json", "scenarios/faults/lost-notify.json"] {
        let o = ftsim(&["render", scenario]);
        assert_exit(&o, 2);
        assert_eq!(
            stderr(&o),
            format!(
                "error: {scenario} is a scenario, not a trace: write a trace with \
                 `ftsim run {scenario} --trace trace.jsonl` and render that\n"
            )
        );
        assert!(o.stdout.is_empty());
    }
    // The same on one line: the first line is JSON, just not a trace event.
    let dir = TempDir::new("one-line-scenario");
    let text = std::fs::read_to_string("scenarios/wordcount.json").expect("readable");
    let value: serde_json::Value = serde_json::from_str(&text).expect("a scenario is JSON");
    let path = dir.write("compact.json", &value.to_string());
    let o = ftsim(&["render", &path, "--format", "svg"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).starts_with(&format!("error: {path} is a scenario, not a trace")));
}

#[test]
fn render_of_a_counterexample_file_says_to_replay_it_with_a_trace() {
    let dir = TempDir::new("counterexample");
    let o = ftsim(&[
        "check",
        "scenarios/mutations/skip_alignment/scenario.json",
        "--seeds",
        "1",
        "--save",
        "violations",
        "--out",
        &dir.file("ce"),
    ]);
    assert_exit(&o, 0);
    let file = std::fs::read_dir(dir.file("ce"))
        .expect("a counterexample was saved")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a counterexample file");
    let file = file.to_str().expect("UTF-8 path");
    let o = ftsim(&["render", file]);
    assert_exit(&o, 2);
    assert_eq!(
        stderr(&o),
        format!(
            "error: {file} is a counterexample, not a trace: write its trace with \
             `ftsim replay {file} --trace trace.jsonl` and render that\n"
        )
    );
}

#[test]
fn render_of_other_input_says_it_is_not_a_trace_at_the_first_bad_line() {
    let dir = TempDir::new("not-a-trace");
    let good = r#"{"t_us":0,"event":"job_finished"}"#;
    let cases = [
        ("words.txt", "hello world\n".to_string(), ":1:1: not a trace written by --trace: "),
        ("pretty.json", "{\n  \"a\": 1\n}\n".to_string(), ":1:1: not a trace written by --trace: "),
        (
            "object.jsonl",
            format!("{good}\n  {{\"a\": 1}}\n"),
            ":2:3: not a trace written by --trace: ",
        ),
        ("array.jsonl", format!("{good}\n[1, 2]\n"), ":2:1: not a trace written by --trace: "),
    ];
    for (name, text, want) in cases {
        let path = dir.write(name, &text);
        let o = ftsim(&["render", &path]);
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.starts_with(&format!("error: {path}{want}")), "{name}: {err}");
        assert!(!err.contains("EOF while parsing"), "{name}: {err}");
        assert!(o.stdout.is_empty(), "{name}");
    }
}

/// A job of `p` lanes per operator: a source, a map and an exactly-once sink joined by forward
/// edges (so the channels, and the trace, grow in proportion to the lanes), checkpoints every
/// 5 ms and a node crash after checkpoint 2, so that every lane also fails over and restores.
fn wide_scenario(p: usize) -> String {
    format!(
        r#"{{
  "name": "wide-{p}",
  "graph": {{
    "operators": [
      {{"id": "src", "op": "source", "parallelism": {p},
       "generate": {{"records": 20, "keys": 8, "values": "sequence"}}, "rate_per_ms": 2}},
      {{"id": "inc", "op": "map", "parallelism": {p}, "fn": {{"add": 1}}}},
      {{"id": "out", "op": "sink", "parallelism": {p}, "delivery": "exactly_once"}}
    ],
    "edges": [
      {{"from": "src", "to": "inc", "partition": "forward"}},
      {{"from": "inc", "to": "out", "partition": "forward"}}
    ]
  }},
  "cluster": {{"nodes": 8}},
  "checkpointing": {{"mode": "aligned", "interval_ms": 5}},
  "recovery": {{"restart": {{"strategy": "fixed_delay", "attempts": 3, "delay_ms": 2}}}},
  "faults": [{{"on": {{"event": "checkpoint_completed", "checkpoint": 2}}, "delay_ms": 0,
              "kind": "crash_node", "node": "node-0", "restart_after_ms": 1}}]
}}"#
    )
}

#[test]
fn every_format_grows_in_proportion_to_the_trace_when_the_lanes_grow() {
    // Not a timing (docs/performance.md, "render against lanes", has those): a count. Four
    // times the lanes make about four times the trace lines; no format may write more per
    // trace line for the wider job (a picture that repeated something per lane on every line
    // would).
    let dir = TempDir::new("lanes");
    let mut per_line: Vec<[f64; 4]> = Vec::new();
    for p in [16, 64] {
        let scenario = dir.write(&format!("wide-{p}.json"), &wide_scenario(p));
        let trace = dir.file(&format!("wide-{p}.jsonl"));
        assert_exit(&ftsim(&["run", &scenario, "--trace", &trace]), 0);
        let lines = std::fs::read_to_string(&trace).expect("the trace").lines().count() as f64;
        let text = render(&trace, "text");
        assert!(text.contains(&format!("out[{}]", p - 1)), "one lane per task");
        let sizes = ["text", "svg", "html", "mermaid"].map(|f| render(&trace, f).len() as f64);
        per_line.push(sizes.map(|s| s / lines));
    }
    for (k, format) in ["text", "svg", "html", "mermaid"].iter().enumerate() {
        let (narrow, wide) = (per_line[0][k], per_line[1][k]);
        assert!(
            wide <= narrow * 1.25,
            "{format}: {wide:.1} bytes per trace line at 192 lanes, {narrow:.1} at 48"
        );
    }
}

#[test]
fn render_counts_trace_lines_where_run_counts_simulator_events() {
    let dir = TempDir::new("counts");
    let trace = dir.file("lost-notify.jsonl");
    let run = ftsim(&["run", "scenarios/faults/lost-notify.json", "--trace", &trace]);
    assert_exit(&run, 0);
    assert!(stdout(&run).contains("  1427 events, "), "{}", stdout(&run));
    let lines = std::fs::read_to_string(&trace).expect("the trace").lines().count();
    assert_eq!(lines, 1478, "a simulator event can write several trace lines");
    let head = format!("{lines} trace lines from @0.000ms to @103.702ms");
    assert!(render(&trace, "text").starts_with(&format!("ftsim trace {trace}: {head}\n")));
    assert!(render(&trace, "svg").contains(&format!("ftsim trace {trace}: {lines} trace lines, ")));
    assert!(render(&trace, "html").contains(&format!("<p>{head}; 3 tasks;")));
    assert!(render(&trace, "mermaid").contains(&format!("%% ftsim render {trace}: {head}\n")));
}
