//! Every validation rule of the scenario format (SPEC §1), one test each, through
//! `ftsim::scenario::load_bytes`. Each test is a JSON text and the problem it must produce:
//! the JSON path and the important words of the message.

use ftsim::scenario::{load_bytes, ScenarioError};

/// Asserts that `text` is rejected with a problem at `path` whose message contains every one
/// of `fragments`. A syntax error counts as one problem at path `.`.
#[track_caller]
fn check(text: &str, path: &str, fragments: &[&str]) {
    let err = rejected(text.as_bytes());
    let problems: Vec<(String, String)> = match &err {
        ScenarioError::Syntax { message, .. } => vec![(".".to_string(), message.clone())],
        other => other.problems().iter().map(|p| (p.path.clone(), p.message.clone())).collect(),
    };
    let found = problems.iter().any(|(p, m)| p == path && fragments.iter().all(|f| m.contains(f)));
    assert!(
        found,
        "expected a problem at `{path}` mentioning {fragments:?}, got:\n{err}\nproblems: {problems:#?}"
    );
}

/// Loads `bytes` and returns the error; fails the test if they are accepted.
#[track_caller]
fn rejected(bytes: &[u8]) -> ScenarioError {
    match load_bytes(bytes, "t.json") {
        Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(bytes)),
        Err(e) => {
            assert!(e.to_string().contains("t.json"), "the error names the file: {e}");
            e
        }
    }
}

/// Asserts that `text` is a valid scenario.
#[track_caller]
fn accepted(text: &str) {
    if let Err(e) = load_bytes(text.as_bytes(), "t.json") {
        panic!("rejected:\n{e}\n{text}");
    }
}

/// Asserts a syntax error and returns its (line, column).
#[track_caller]
fn syntax_error(bytes: &[u8]) -> (usize, usize) {
    match rejected(bytes) {
        ScenarioError::Syntax { line, column, file, .. } => {
            assert_eq!(file, "t.json");
            assert!(line >= 1 && column >= 1);
            (line, column)
        }
        other => panic!("expected a syntax error, got: {other}"),
    }
}

/// A valid graph: a 2-partition source, a keyed running count, an exactly-once sink.
const GRAPH: &str = r#""graph": {
  "operators": [
    {"id": "src", "op": "source", "parallelism": 2, "generate": {"records": 10, "keys": 4}},
    {"id": "count", "op": "reduce", "agg": "count", "parallelism": 2},
    {"id": "out", "op": "sink"}
  ],
  "edges": [
    {"from": "src", "to": "count", "partition": "hash"},
    {"from": "count", "to": "out"}
  ]
}"#;

/// The valid scenario of [`GRAPH`] with `extra` top-level fields.
fn with(extra: &str) -> String {
    if extra.is_empty() {
        format!("{{\"name\": \"t\", {GRAPH}}}")
    } else {
        format!("{{\"name\": \"t\", {GRAPH}, {extra}}}")
    }
}

/// A scenario with the given operators and edges (JSON array contents).
fn graph(operators: &str, edges: &str) -> String {
    format!(
        "{{\"name\": \"t\", \"graph\": {{\"operators\": [{operators}], \"edges\": [{edges}]}}}}"
    )
}

/// A source, a map and a sink, with `map` as the map's extra fields.
fn with_map(map: &str) -> String {
    graph(
        &format!(
            r#"{{"id": "src", "op": "source", "generate": {{"records": 5}}}},
               {{"id": "m", "op": "map"{map}}},
               {{"id": "out", "op": "sink"}}"#
        ),
        r#"{"from": "src", "to": "m"}, {"from": "m", "to": "out"}"#,
    )
}

/// The graph of [`GRAPH`] with the source's fields replaced by `source`.
fn with_source(source: &str) -> String {
    graph(
        &format!(
            r#"{{"id": "src", "op": "source", {source}}},
               {{"id": "out", "op": "sink"}}"#
        ),
        r#"{"from": "src", "to": "out"}"#,
    )
}

// ---------------------------------------------------------------------------------------------
// The helpers' own baseline.

#[test]
fn the_base_scenarios_of_these_tests_are_valid() {
    accepted(&with(""));
    accepted(&with_map(""));
    accepted(&with_source(r#""generate": {"records": 5}"#));
}

#[test]
fn every_shipped_scenario_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios/ exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            if let Err(e) = ftsim::scenario::load_file(&path) {
                panic!("{e}");
            }
            n += 1;
        }
    }
    assert!(n > 0, "scenarios/ has scenario files");
}

// ---------------------------------------------------------------------------------------------
// Unknown fields and names.

#[test]
fn an_unknown_top_level_field_is_rejected() {
    check(&with(r#""sede": 3"#), "sede", &["unknown field", "sede"]);
}

#[test]
fn an_unknown_operator_field_is_rejected() {
    check(
        &with_source(r#""generate": {"records": 5}, "paralelism": 2"#),
        "graph.operators[0].paralelism",
        &["unknown field", "paralelism"],
    );
}

#[test]
fn an_unknown_generate_field_is_rejected() {
    check(
        &with_source(r#""generate": {"records": 5, "key": 3}"#),
        "graph.operators[0].generate.key",
        &["unknown field", "key"],
    );
}

#[test]
fn an_unknown_op_is_rejected() {
    check(
        &with_map("").replace("\"map\"", "\"mapp\""),
        "graph.operators[1].op",
        &["unknown operator `mapp`", "map"],
    );
}

#[test]
fn a_parameter_that_does_not_belong_to_the_op_is_rejected() {
    check(
        &with_map(r#", "agg": "sum""#),
        "graph.operators[1].agg",
        &["`agg` is not a parameter of a `map` operator", "fn"],
    );
}

#[test]
fn a_sink_with_a_window_size_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink", "size_ms": 10}"#,
            r#"{"from": "src", "to": "out"}"#,
        ),
        "graph.operators[1].size_ms",
        &["not a parameter of a `sink`"],
    );
}

#[test]
fn an_unknown_map_function_is_rejected() {
    check(&with_map(r#", "fn": {"square": 2}"#), "graph.operators[1].fn", &["map's `fn`"]);
}

#[test]
fn an_unknown_partitioning_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "out", "partition": "random"}"#,
        ),
        "graph.edges[0].partition",
        &["unknown partitioning `random`"],
    );
}

#[test]
fn an_unknown_delivery_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink", "delivery": "twice"}"#,
            r#"{"from": "src", "to": "out"}"#,
        ),
        "graph.operators[1].delivery",
        &["unknown delivery `twice`", "upsert"],
    );
}

#[test]
fn an_unknown_aggregate_is_rejected() {
    check(
        &with("").replace(r#""agg": "count""#, r#""agg": "avg""#),
        "graph.operators[1].agg",
        &["unknown aggregate `avg`"],
    );
}

#[test]
fn an_unknown_distribution_is_rejected() {
    check(
        &with_source(r#""generate": {"records": 5, "distribution": "normal"}"#),
        "graph.operators[0].generate.distribution",
        &["unknown distribution `normal`"],
    );
}

#[test]
fn an_empty_name_is_rejected() {
    check(&with("").replace(r#""name": "t""#, r#""name": " ""#), "name", &["non-empty name"]);
}

#[test]
fn a_missing_name_is_rejected() {
    check(r#"{"graph": {"operators": []}}"#, ".", &["missing field `name`"]);
}

// ---------------------------------------------------------------------------------------------
// Operators and edges.

#[test]
fn duplicate_operator_ids_are_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "src", "op": "sink"}"#,
            r#"{"from": "src", "to": "src"}"#,
        ),
        "graph.operators[1].id",
        &["duplicate operator id `src`", "graph.operators[0]"],
    );
}

#[test]
fn an_unusable_operator_id_is_rejected() {
    check(
        &with_map("").replace(r#""id": "m""#, r#""id": "a b""#),
        "graph.operators[1].id",
        &["`a b` is not a usable operator id"],
    );
}

#[test]
fn an_edge_from_an_unknown_operator_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "scr", "to": "out"}"#,
        ),
        "graph.edges[0].from",
        &["unknown operator `scr`", "`src`", "`out`"],
    );
}

#[test]
fn an_edge_to_an_unknown_operator_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "outt"}"#,
        ),
        "graph.edges[0].to",
        &["unknown operator `outt`"],
    );
}

#[test]
fn a_cycle_is_rejected() {
    let text = graph(
        r#"{"id": "src", "op": "source", "generate": {"records": 5}},
           {"id": "a", "op": "map"},
           {"id": "b", "op": "map"},
           {"id": "out", "op": "sink"}"#,
        r#"{"from": "src", "to": "a"}, {"from": "a", "to": "b"},
           {"from": "b", "to": "a"}, {"from": "b", "to": "out"}"#,
    );
    // The cycle is a → b → a; the validator may name either.
    let err = rejected(text.as_bytes());
    let p = err
        .problems()
        .iter()
        .find(|p| p.message.contains("cycle"))
        .unwrap_or_else(|| panic!("no cycle problem: {err}"));
    assert!(p.message.contains("acyclic"), "{err}");
    let named = if p.path == "graph.operators[1]" { "`a`" } else { "`b`" };
    assert!(p.path == "graph.operators[1]" || p.path == "graph.operators[2]", "{err}");
    check(&text, &p.path, &["the graph has a cycle through", named]);
}

#[test]
fn parallelism_zero_is_rejected() {
    check(
        &with("").replace(r#""parallelism": 2, "generate""#, r#""parallelism": 0, "generate""#),
        "graph.operators[0].parallelism",
        &["parallelism must be between 1 and 128, got 0"],
    );
}

#[test]
fn parallelism_above_the_maximum_is_rejected() {
    check(
        &with("").replace(r#""agg": "count", "parallelism": 2"#, r#""parallelism": 129"#),
        "graph.operators[1].parallelism",
        &["parallelism must be between 1 and 128, got 129"],
    );
}

#[test]
fn a_forward_edge_between_different_parallelisms_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "parallelism": 2, "generate": {"records": 5}},
               {"id": "out", "op": "sink", "parallelism": 3}"#,
            r#"{"from": "src", "to": "out", "partition": "forward"}"#,
        ),
        "graph.edges[0].partition",
        &["forward", "`src` has parallelism 2", "`out` has 3"],
    );
}

#[test]
fn a_reduce_fed_by_a_non_hash_edge_is_rejected() {
    check(
        &with("").replace(r#""partition": "hash""#, r#""partition": "rebalance""#),
        "graph.edges[0].partition",
        &["`count` is keyed", "`hash`", "not `rebalance`"],
    );
}

#[test]
fn a_window_fed_by_a_non_hash_edge_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "w", "op": "window", "size_ms": 10},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "w", "partition": "forward"},
               {"from": "w", "to": "out"}"#,
        ),
        "graph.edges[0].partition",
        &["`w` is keyed", "not `forward`"],
    );
}

#[test]
fn a_join_fed_by_a_non_hash_edge_is_rejected() {
    check(
        &graph(
            r#"{"id": "a", "op": "source", "generate": {"records": 5}},
               {"id": "b", "op": "source", "generate": {"records": 5}},
               {"id": "j", "op": "join", "size_ms": 10},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "a", "to": "j", "side": "left"},
               {"from": "b", "to": "j", "side": "right", "partition": "broadcast"},
               {"from": "j", "to": "out"}"#,
        ),
        "graph.edges[1].partition",
        &["`j` is keyed", "not `broadcast`"],
    );
}

#[test]
fn a_window_without_a_size_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "w", "op": "window"},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "w"}, {"from": "w", "to": "out"}"#,
        ),
        "graph.operators[1]",
        &["needs `size_ms`"],
    );
}

/// Two sources into a join with the given sides.
fn join_with_sides(left: &str, right: &str) -> String {
    graph(
        r#"{"id": "a", "op": "source", "generate": {"records": 5}},
           {"id": "b", "op": "source", "generate": {"records": 5}},
           {"id": "j", "op": "join", "size_ms": 10},
           {"id": "out", "op": "sink"}"#,
        &format!(
            r#"{{"from": "a", "to": "j", "side": "{left}"}},
               {{"from": "b", "to": "j", "side": "{right}"}},
               {{"from": "j", "to": "out"}}"#
        ),
    )
}

#[test]
fn a_join_with_left_and_right_inputs_is_accepted() {
    accepted(&join_with_sides("left", "right"));
}

#[test]
fn a_join_with_two_left_inputs_is_rejected() {
    check(
        &join_with_sides("left", "left"),
        "graph.operators[2]",
        &["exactly one left and one right", "2 left and 0 right"],
    );
}

#[test]
fn a_join_with_a_single_input_is_rejected() {
    check(
        &graph(
            r#"{"id": "a", "op": "source", "generate": {"records": 5}},
               {"id": "j", "op": "join", "size_ms": 10},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "a", "to": "j", "side": "left"}, {"from": "j", "to": "out"}"#,
        ),
        "graph.operators[1]",
        &["exactly one left and one right", "1 left and 0 right"],
    );
}

#[test]
fn an_edge_into_a_join_without_a_side_is_rejected() {
    check(
        &join_with_sides("left", "right").replacen(r#", "side": "left""#, "", 1),
        "graph.edges[0]",
        &["needs \"side\""],
    );
}

#[test]
fn an_unknown_join_side_is_rejected() {
    check(&join_with_sides("left", "middle"), "graph.edges[1].side", &["unknown side `middle`"]);
}

#[test]
fn a_side_on_an_edge_that_is_not_into_a_join_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "out", "side": "left"}"#,
        ),
        "graph.edges[0].side",
        &["`side` is only for edges into a join", "`out` is a sink"],
    );
}

#[test]
fn a_source_with_an_input_is_rejected() {
    check(
        &graph(
            r#"{"id": "a", "op": "source", "generate": {"records": 5}},
               {"id": "b", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "a", "to": "b"}, {"from": "b", "to": "out"}"#,
        ),
        "graph.operators[1]",
        &["the source `b` has inputs"],
    );
}

#[test]
fn a_sink_with_an_output_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "out", "op": "sink"},
               {"id": "m", "op": "map"},
               {"id": "out2", "op": "sink"}"#,
            r#"{"from": "src", "to": "out"}, {"from": "out", "to": "m"},
               {"from": "m", "to": "out2"}"#,
        ),
        "graph.operators[1]",
        &["the sink `out` has outputs"],
    );
}

#[test]
fn an_operator_without_input_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "m", "op": "map"},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "out"}, {"from": "m", "to": "out"}"#,
        ),
        "graph.operators[1]",
        &["`m` has no input edge"],
    );
}

#[test]
fn an_operator_from_which_no_sink_is_reachable_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "generate": {"records": 5}},
               {"id": "dead", "op": "map"},
               {"id": "out", "op": "sink"}"#,
            r#"{"from": "src", "to": "out"}, {"from": "src", "to": "dead"}"#,
        ),
        "graph.operators[1]",
        &["no sink is reachable from `dead`"],
    );
}

#[test]
fn a_graph_without_operators_is_rejected() {
    check(&graph("", ""), "graph.operators", &["no operators"]);
}

#[test]
fn a_graph_without_a_source_is_rejected() {
    check(&graph(r#"{"id": "out", "op": "sink"}"#, ""), "graph.operators", &["no source"]);
}

#[test]
fn a_graph_without_a_sink_is_rejected() {
    check(
        &graph(r#"{"id": "src", "op": "source", "generate": {"records": 5}}"#, ""),
        "graph.operators",
        &["no sink"],
    );
}

// ---------------------------------------------------------------------------------------------
// Source data.

#[test]
fn literal_data_is_accepted() {
    accepted(&with_source(
        r#""parallelism": 2, "data": [[{"key": "a", "value": 1, "ts": 0}, {"key": 7, "value": -2, "ts": 0}],
                                      [{"key": "a", "value": 3, "ts": 5}]]"#,
    ));
}

#[test]
fn data_with_fewer_partitions_than_the_parallelism_is_rejected() {
    check(
        &with_source(r#""parallelism": 2, "data": [[{"key": "a", "value": 1, "ts": 0}]]"#),
        "graph.operators[0].data",
        &["`data` has 1 partitions", "parallelism 2"],
    );
}

#[test]
fn data_with_more_partitions_than_the_parallelism_is_rejected() {
    check(
        &with_source(r#""data": [[], [], []]"#),
        "graph.operators[0].data",
        &["`data` has 3 partitions", "parallelism 1"],
    );
}

#[test]
fn data_whose_ts_decreases_is_rejected() {
    check(
        &with_source(
            r#""data": [[{"key": "a", "value": 1, "ts": 5}, {"key": "a", "value": 1, "ts": 4}]]"#,
        ),
        "graph.operators[0].data[0][1].ts",
        &["ts 4 is below the previous record's ts 5", "never decreases"],
    );
}

#[test]
fn a_negative_ts_is_rejected() {
    check(
        &with_source(r#""data": [[{"key": "a", "value": 1, "ts": -1}]]"#),
        "graph.operators[0].data[0][0].ts",
        &["cannot be negative", "-1"],
    );
}

#[test]
fn a_record_without_a_value_is_rejected() {
    check(
        &with_source(r#""data": [[{"key": "a", "ts": 1}]]"#),
        "graph.operators[0].data[0][0]",
        &["missing field `value`"],
    );
}

#[test]
fn a_source_with_both_generate_and_data_is_rejected() {
    check(
        &with_source(r#""generate": {"records": 5}, "data": [[]]"#),
        "graph.operators[0]",
        &["either `generate` or `data`, not both"],
    );
}

#[test]
fn a_source_with_neither_generate_nor_data_is_rejected() {
    check(
        &with_source(r#""parallelism": 1"#),
        "graph.operators[0]",
        &["needs `generate` or `data`"],
    );
}

#[test]
fn random_values_with_lo_above_hi_are_rejected() {
    check(
        &with_source(r#""generate": {"records": 5, "values": {"random": [10, 1]}}"#),
        "graph.operators[0].generate.values.random",
        &["lo (10) is above hi (1)"],
    );
}

// ---------------------------------------------------------------------------------------------
// Numbers: wrong sign and absurd sizes.

#[test]
fn a_negative_record_count_is_rejected_with_its_path() {
    check(
        &with_source(r#""generate": {"records": -1}"#),
        "graph.operators[0].generate.records",
        &["invalid value", "-1"],
    );
}

#[test]
fn a_negative_parallelism_is_rejected_with_its_path() {
    check(
        &with_source(r#""generate": {"records": 1}, "parallelism": -2"#),
        "graph.operators[0].parallelism",
        &["-2"],
    );
}

#[test]
fn a_negative_seed_is_rejected_with_its_path() {
    check(&with(r#""seed": -7"#), "seed", &["-7"]);
}

#[test]
fn a_fractional_node_count_is_rejected_with_its_path() {
    check(&with(r#""cluster": {"nodes": 1.5}"#), "cluster.nodes", &["invalid type"]);
}

#[test]
fn a_string_where_a_number_is_expected_is_rejected_with_its_path() {
    check(&with(r#""limits": {"max_events": "many"}"#), "limits.max_events", &["invalid type"]);
}

#[test]
fn records_above_the_limit_are_rejected() {
    check(
        &with_source(r#""generate": {"records": 10000001}"#),
        "graph.operators[0].generate.records",
        &["above the limit"],
    );
}

#[test]
fn records_times_parallelism_above_the_limit_are_rejected() {
    check(
        &with_source(r#""parallelism": 128, "generate": {"records": 100000}"#),
        "graph.operators[0].generate.records",
        &["parallelism 128", "above the limit"],
    );
}

#[test]
fn a_huge_record_count_does_not_overflow() {
    check(
        &with_source(r#""parallelism": 128, "generate": {"records": 18446744073709551615}"#),
        "graph.operators[0].generate.records",
        &["above the limit"],
    );
}

#[test]
fn zero_keys_are_rejected() {
    check(
        &with_source(r#""generate": {"records": 5, "keys": 0}"#),
        "graph.operators[0].generate.keys",
        &["number of keys must be between 1 and", "got 0"],
    );
}

#[test]
fn a_latency_min_above_max_is_rejected() {
    check(
        &with(r#""network": {"latency_ms": {"min": 5, "max": 1}}"#),
        "network.latency_ms",
        &["min (5) is above max (1)"],
    );
}

#[test]
fn a_huge_latency_max_is_rejected() {
    check(
        &with(r#""network": {"latency_ms": {"min": 1, "max": 1000000000000}}"#),
        "network.latency_ms.max",
        &["a latency must be between 0 and", "got 1000000000000"],
    );
}

#[test]
fn a_storage_latency_min_above_max_is_rejected() {
    check(
        &with(r#""storage": {"latency_ms": {"min": 9, "max": 2}}"#),
        "storage.latency_ms",
        &["min (9) is above max (2)"],
    );
}

#[test]
fn a_zero_checkpoint_interval_is_rejected() {
    check(
        &with(r#""checkpointing": {"interval_ms": 0}"#),
        "checkpointing.interval_ms",
        &["interval must be between 1 and", "got 0"],
    );
}

#[test]
fn a_zero_checkpoint_timeout_is_rejected() {
    check(
        &with(r#""checkpointing": {"timeout_ms": 0}"#),
        "checkpointing.timeout_ms",
        &["timeout must be between 1"],
    );
}

#[test]
fn zero_concurrent_checkpoints_are_rejected() {
    check(
        &with(r#""checkpointing": {"max_concurrent": 0}"#),
        "checkpointing.max_concurrent",
        &["max_concurrent must be between 1"],
    );
}

#[test]
fn a_zero_channel_capacity_is_rejected() {
    check(
        &with(r#""network": {"channel_capacity": 0}"#),
        "network.channel_capacity",
        &["channel capacity must be between 1 and", "got 0"],
    );
}

#[test]
fn a_zero_output_capacity_is_rejected() {
    check(
        &with(r#""network": {"output_capacity": 0}"#),
        "network.output_capacity",
        &["output capacity must be between 1"],
    );
}

#[test]
fn zero_nodes_are_rejected() {
    check(
        &with(r#""cluster": {"nodes": 0}"#),
        "cluster.nodes",
        &["number of nodes must be between 1 and 64", "got 0"],
    );
}

#[test]
fn sixty_five_nodes_are_rejected() {
    check(
        &with(r#""cluster": {"nodes": 65}"#),
        "cluster.nodes",
        &["number of nodes must be between 1 and 64", "got 65"],
    );
}

#[test]
fn a_cost_above_the_limit_is_rejected() {
    check(
        &with("").replace(r#""agg": "count","#, r#""agg": "count", "cost_us": 1000001,"#),
        "graph.operators[1].cost_us",
        &["cost_us must be between 0 and 1000000", "got 1000001"],
    );
}

#[test]
fn a_zero_rate_is_rejected() {
    check(
        &with_source(r#""generate": {"records": 5}, "rate_per_ms": 0"#),
        "graph.operators[0].rate_per_ms",
        &["rate must be above 0", "got 0"],
    );
}

#[test]
fn a_negative_rate_is_rejected() {
    check(
        &with_source(r#""generate": {"records": 5}, "rate_per_ms": -3.5"#),
        "graph.operators[0].rate_per_ms",
        &["rate must be above 0"],
    );
}

#[test]
fn a_fractional_rate_is_accepted() {
    accepted(&with_source(r#""generate": {"records": 5}, "rate_per_ms": 0.25"#));
}

#[test]
fn zero_max_events_are_rejected() {
    check(
        &with(r#""limits": {"max_events": 0}"#),
        "limits.max_events",
        &["max_events must be between 1"],
    );
}

#[test]
fn a_flat_map_repeat_above_the_limit_is_rejected() {
    check(
        &with_map(r#", "fn": {"repeat": 1001}"#).replace(r#""op": "map""#, r#""op": "flat_map""#),
        "graph.operators[1].fn",
        &["repeat", "1000"],
    );
}

#[test]
fn a_filter_with_a_zero_modulus_is_rejected() {
    check(
        &with_map(r#", "fn": {"value_mod": [0, 0]}"#)
            .replace(r#""op": "map""#, r#""op": "filter""#),
        "graph.operators[1].fn",
        &["value_mod", "m ≥ 1"],
    );
}

#[test]
fn a_rekey_mod_of_zero_is_rejected() {
    check(
        &with_map(r#", "fn": {"rekey_mod": 0}"#),
        "graph.operators[1].fn.rekey_mod",
        &["rekey_mod takes an integer from 1"],
    );
}

// ---------------------------------------------------------------------------------------------
// Placement.

#[test]
fn placement_on_nodes_of_the_cluster_is_accepted() {
    accepted(&with(
        r#""cluster": {"nodes": 3, "placement": {"count[1]": "node-2", "out[0]": "node-0"}}"#,
    ));
}

#[test]
fn placement_on_an_unknown_node_is_rejected() {
    check(
        &with(r#""cluster": {"nodes": 2, "placement": {"count[1]": "node-2"}}"#),
        "cluster.placement.count[1]",
        &["unknown node `node-2`", "node-0 … node-1"],
    );
}

#[test]
fn placement_of_an_unknown_operator_is_rejected() {
    check(
        &with(r#""cluster": {"nodes": 2, "placement": {"cnt[0]": "node-1"}}"#),
        "cluster.placement.cnt[0]",
        &["unknown operator `cnt`"],
    );
}

#[test]
fn placement_of_an_out_of_range_subtask_is_rejected() {
    check(
        &with(r#""cluster": {"nodes": 2, "placement": {"count[2]": "node-1"}}"#),
        "cluster.placement.count[2]",
        &["`count` has parallelism 2", "0 … 1"],
    );
}

#[test]
fn placement_with_a_malformed_task_name_is_rejected() {
    for name in ["count", "count[", "count[x]", "count[1", "count[-1]", "count]1["] {
        check(
            &with(&format!(r#""cluster": {{"nodes": 2, "placement": {{"{name}": "node-1"}}}}"#)),
            &format!("cluster.placement.{name}"),
            &["is not a task name", "operator[subtask]"],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Faults.

#[test]
fn faults_of_every_kind_are_accepted() {
    accepted(&with(
        r#""cluster": {"nodes": 2},
           "faults": [
             {"at_ms": 5, "kind": "crash_node", "node": "node-1", "restart_after_ms": 10},
             {"at_ms": 5, "kind": "crash_task", "task": "count[1]"},
             {"at_ms": 5, "kind": "partition", "between": ["jm", "node-0"], "duration_ms": 3},
             {"at_ms": 5, "kind": "storage_fail", "duration_ms": 3},
             {"on": {"event": "task_finished", "task": "src[0]"}, "delay_ms": 2,
              "kind": "crash_coordinator"},
             {"kind": "random", "mean_interval_ms": 300, "kinds": ["crash_node", "partition"],
              "max_faults": 5, "until_ms": 2000}
           ]"#,
    ));
}

#[test]
fn a_fault_on_an_unknown_node_is_rejected() {
    check(
        &with(
            r#""cluster": {"nodes": 2}, "faults": [{"at_ms": 1, "kind": "crash_node", "node": "node-7"}]"#,
        ),
        "faults[0].node",
        &["unknown node `node-7`"],
    );
}

#[test]
fn a_fault_on_a_malformed_node_name_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "kind": "crash_node", "node": "worker1"}]"#),
        "faults[0].node",
        &["unknown node `worker1`"],
    );
}

#[test]
fn a_fault_on_an_unknown_task_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "kind": "crash_task", "task": "sum[0]"}]"#),
        "faults[0].task",
        &["unknown operator `sum`"],
    );
}

#[test]
fn a_fault_on_an_out_of_range_subtask_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "kind": "crash_task", "task": "out[1]"}]"#),
        "faults[0].task",
        &["`out` has parallelism 1"],
    );
}

#[test]
fn an_unknown_fault_kind_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "kind": "meteor"}]"#),
        "faults[0].kind",
        &["unknown fault kind `meteor`", "crash_node"],
    );
}

#[test]
fn a_fault_with_both_at_ms_and_on_is_rejected() {
    check(
        &with(
            r#""faults": [{"at_ms": 1, "on": {"event": "job_finished"}, "kind": "storage_fail",
                           "duration_ms": 5}]"#,
        ),
        "faults[0]",
        &["either `at_ms` or `on`, not both"],
    );
}

#[test]
fn a_fault_with_neither_at_ms_nor_on_is_rejected() {
    check(
        &with(r#""faults": [{"kind": "storage_fail", "duration_ms": 5}]"#),
        "faults[0]",
        &["needs `at_ms`", "`on`"],
    );
}

#[test]
fn a_fault_missing_a_required_parameter_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "kind": "crash_node"}]"#),
        "faults[0]",
        &["a `crash_node` fault needs `node`"],
    );
}

#[test]
fn a_fault_on_an_unknown_event_kind_is_rejected() {
    check(
        &with(r#""faults": [{"on": {"event": "lunch_break"}, "kind": "crash_coordinator"}]"#),
        "faults[0].on.event",
        &["unknown trace event `lunch_break`", "job_finished"],
    );
}

#[test]
fn a_fault_on_an_event_field_the_event_does_not_have_is_rejected() {
    check(
        &with(
            r#""faults": [{"on": {"event": "task_finished", "checkpoint": 2},
                           "kind": "crash_coordinator"}]"#,
        ),
        "faults[0].on.checkpoint",
        &["a `task_finished` event has no field `checkpoint`", "task"],
    );
}

#[test]
fn an_on_trigger_without_an_event_is_rejected() {
    check(
        &with(r#""faults": [{"on": {"task": "count[0]"}, "kind": "crash_coordinator"}]"#),
        "faults[0].on",
        &["`on` needs an `event`"],
    );
}

#[test]
fn a_delay_with_at_ms_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "delay_ms": 3, "kind": "crash_coordinator"}]"#),
        "faults[0].delay_ms",
        &["`delay_ms` goes with `on`"],
    );
}

#[test]
fn a_random_fault_with_an_unknown_kind_is_rejected() {
    check(
        &with(
            r#""faults": [{"kind": "random", "mean_interval_ms": 10, "kinds": ["crash_node", "flood"]}]"#,
        ),
        "faults[0].kinds[1]",
        &["unknown fault kind `flood`"],
    );
}

#[test]
fn a_random_fault_with_no_kinds_is_rejected() {
    check(
        &with(r#""faults": [{"kind": "random", "mean_interval_ms": 10, "kinds": []}]"#),
        "faults[0].kinds",
        &["at least one kind"],
    );
}

#[test]
fn a_random_fault_with_a_zero_mean_interval_is_rejected() {
    check(
        &with(r#""faults": [{"kind": "random", "mean_interval_ms": 0}]"#),
        "faults[0].mean_interval_ms",
        &["mean interval must be between 1"],
    );
}

#[test]
fn a_random_fault_with_more_than_ten_thousand_max_faults_is_rejected() {
    check(
        &with(r#""faults": [{"kind": "random", "mean_interval_ms": 10, "max_faults": 10001}]"#),
        "faults[0].max_faults",
        &["max_faults must be between 0 and 10000"],
    );
}

#[test]
fn random_faults_that_add_up_to_more_than_ten_thousand_in_all_are_rejected() {
    let entry =
        r#"{"kind": "random", "mean_interval_ms": 1, "max_faults": 6000, "until_ms": 1000000}"#;
    check(
        &with(&format!(
            r#""faults": [{entry}, {{"at_ms": 1, "kind": "storage_fail", "duration_ms": 1}}, {entry}]"#
        )),
        "faults",
        &["add up to 12001", "limit of 10000 in all", "random entry its `max_faults`"],
    );
}

#[test]
fn planned_and_random_faults_of_ten_thousand_in_all_are_accepted() {
    accepted(&with(
        r#""faults": [{"kind": "random", "mean_interval_ms": 1, "max_faults": 9999},
                      {"at_ms": 1, "kind": "storage_fail", "duration_ms": 1}]"#,
    ));
}

#[test]
fn a_random_fault_with_at_ms_is_rejected() {
    check(
        &with(r#""faults": [{"kind": "random", "at_ms": 5, "mean_interval_ms": 10}]"#),
        "faults[0].at_ms",
        &["`at_ms` is not a parameter of a `random` fault"],
    );
}

#[test]
fn a_field_that_does_not_belong_to_the_fault_kind_is_rejected() {
    check(
        &with(
            r#""faults": [{"at_ms": 1, "kind": "crash_task", "task": "count[0]", "node": "node-0"}]"#,
        ),
        "faults[0].node",
        &["`node` is not a parameter of a `crash_task` fault"],
    );
}

#[test]
fn an_unknown_fault_field_is_rejected() {
    check(
        &with(r#""faults": [{"at_ms": 1, "kind": "crash_coordinator", "severity": 3}]"#),
        "faults[0].severity",
        &["unknown field `severity`"],
    );
}

#[test]
fn a_partition_with_one_endpoint_is_rejected() {
    check(
        &with(
            r#""faults": [{"at_ms": 1, "kind": "partition", "between": ["jm"], "duration_ms": 5}]"#,
        ),
        "faults[0].between",
        &["exactly two endpoints"],
    );
}

#[test]
fn a_partition_between_equal_endpoints_is_rejected() {
    check(
        &with(
            r#""faults": [{"at_ms": 1, "kind": "partition", "between": ["node-0", "node-0"],
                           "duration_ms": 5}]"#,
        ),
        "faults[0].between",
        &["two different endpoints"],
    );
}

#[test]
fn a_partition_with_an_unknown_endpoint_is_rejected() {
    check(
        &with(
            r#""faults": [{"at_ms": 1, "kind": "partition", "between": ["jm", "tm-1"],
                           "duration_ms": 5}]"#,
        ),
        "faults[0].between[1]",
        &["unknown node `tm-1`", "`jm`"],
    );
}

#[test]
fn a_partition_of_zero_duration_is_rejected() {
    check(
        &with(
            r#""faults": [{"at_ms": 1, "kind": "partition", "between": ["jm", "node-0"],
                           "duration_ms": 0}]"#,
        ),
        "faults[0].duration_ms",
        &["duration must be between 1"],
    );
}

// ---------------------------------------------------------------------------------------------
// Checkpointing, recovery, mutations, expectations, limits.

#[test]
fn an_unknown_checkpoint_mode_is_rejected() {
    check(
        &with(r#""checkpointing": {"mode": "eventually"}"#),
        "checkpointing.mode",
        &["unknown mode `eventually`", "aligned, unaligned, at_least_once or disabled"],
    );
}

#[test]
fn an_alignment_timeout_with_a_non_aligned_mode_is_rejected() {
    check(
        &with(r#""checkpointing": {"mode": "unaligned", "alignment_timeout_ms": 10}"#),
        "checkpointing.alignment_timeout_ms",
        &["alignment_timeout_ms", "no meaning in mode `unaligned`"],
    );
}

#[test]
fn an_alignment_timeout_with_aligned_checkpoints_is_accepted() {
    accepted(&with(r#""checkpointing": {"mode": "aligned", "alignment_timeout_ms": 10}"#));
}

#[test]
fn an_unknown_restart_strategy_is_rejected() {
    check(
        &with(r#""recovery": {"restart": {"strategy": "pray"}}"#),
        "recovery.restart.strategy",
        &["unknown restart strategy `pray`", "fixed_delay"],
    );
}

#[test]
fn a_field_that_does_not_belong_to_the_restart_strategy_is_rejected() {
    check(
        &with(r#""recovery": {"restart": {"strategy": "fixed_delay", "multiplier": 2.0}}"#),
        "recovery.restart.multiplier",
        &["`multiplier` is not a setting of the `fixed_delay` strategy"],
    );
}

#[test]
fn a_delay_with_no_restarts_is_rejected() {
    check(
        &with(r#""recovery": {"restart": {"strategy": "none", "delay_ms": 5}}"#),
        "recovery.restart.delay_ms",
        &["not a setting of the `none` strategy"],
    );
}

#[test]
fn an_exponential_delay_multiplier_below_one_is_rejected() {
    check(
        &with(r#""recovery": {"restart": {"strategy": "exponential_delay", "multiplier": 0.5}}"#),
        "recovery.restart.multiplier",
        &["multiplier must be between 1 and 100"],
    );
}

#[test]
fn an_unknown_failover_is_rejected() {
    check(
        &with(r#""recovery": {"failover": "partial"}"#),
        "recovery.failover",
        &["unknown failover `partial`", "full or region"],
    );
}

#[test]
fn an_unknown_mutation_is_rejected() {
    check(
        &with(r#""mutations": ["skip_everything"]"#),
        "mutations[0]",
        &["unknown mutation `skip_everything`", "ftsim mutations"],
    );
}

#[test]
fn an_unknown_invariant_in_holds_is_rejected() {
    check(
        &with(r#""expect": {"holds": ["exactly_twice"]}"#),
        "expect.holds[0]",
        &["unknown invariant `exactly_twice`", "exactly_once"],
    );
}

#[test]
fn an_unknown_invariant_in_violated_is_rejected() {
    check(
        &with(r#""expect": {"holds": [], "violated": ["progress", "speed"]}"#),
        "expect.violated[1]",
        &["unknown invariant `speed`"],
    );
}

#[test]
fn an_invariant_listed_twice_is_rejected() {
    check(
        &with(r#""expect": {"holds": ["no_loss", "no_loss"]}"#),
        "expect.holds[1]",
        &["`no_loss` is listed twice"],
    );
}

#[test]
fn an_invariant_both_held_and_violated_is_rejected() {
    check(
        &with(r#""expect": {"holds": ["exactly_once", "progress"], "violated": ["exactly_once"]}"#),
        "expect",
        &["`exactly_once` cannot be expected both to hold and to be violated"],
    );
}

#[test]
fn zero_max_sim_time_is_rejected() {
    check(
        &with(r#""limits": {"max_sim_ms": 0}"#),
        "limits.max_sim_ms",
        &["max_sim_ms must be between 1"],
    );
}

// ---------------------------------------------------------------------------------------------
// Order-sensitive pipelines (SPEC §2).

/// A 2-partition source, a running `agg` with emit `emit` over a hash edge, and a sink.
fn running(agg: &str, emit: &str, delivery: &str, into_sink: &str) -> String {
    graph(
        &format!(
            r#"{{"id": "src", "op": "source", "parallelism": 2,
                 "generate": {{"records": 20, "keys": 4, "values": "sequence"}}}},
               {{"id": "agg", "op": "reduce", "agg": "{agg}", "emit": "{emit}", "parallelism": 2}},
               {{"id": "out", "op": "sink", "delivery": "{delivery}", "parallelism": 2}}"#
        ),
        &format!(
            r#"{{"from": "src", "to": "agg", "partition": "hash"}},
               {{"from": "agg", "to": "out", "partition": "{into_sink}"}}"#
        ),
    )
}

#[test]
fn a_running_sum_emitted_every_record_into_an_append_sink_is_rejected() {
    check(
        &running("sum", "every", "exactly_once", "hash"),
        "graph.operators[2]",
        &["`out`", "depends on the order", "running sum", "emit: on_end", "upsert"],
    );
}

#[test]
fn a_running_min_or_max_emitted_every_record_into_an_append_sink_is_rejected() {
    for agg in ["min", "max"] {
        check(
            &running(agg, "every", "at_least_once", "forward"),
            "graph.operators[2]",
            &[&format!("running {agg}"), "emit: on_end", "upsert"],
        );
    }
}

#[test]
fn a_running_sum_into_an_upsert_sink_through_a_hash_edge_is_accepted() {
    accepted(&running("sum", "every", "upsert", "hash"));
}

#[test]
fn a_running_sum_emitted_on_end_into_an_append_sink_is_accepted() {
    accepted(&running("sum", "on_end", "exactly_once", "rebalance"));
}

#[test]
fn a_running_count_emitted_every_record_into_an_append_sink_is_accepted() {
    accepted(&running("count", "every", "exactly_once", "rebalance"));
}

#[test]
fn a_running_sum_into_an_upsert_sink_through_a_rebalance_edge_is_rejected() {
    check(
        &running("sum", "every", "upsert", "rebalance"),
        "graph.operators[2]",
        &["upsert sink `out`", "rebalance"],
    );
}

#[test]
fn a_window_fed_by_a_running_count_of_a_multi_partition_source_is_rejected() {
    check(
        &graph(
            r#"{"id": "src", "op": "source", "parallelism": 2,
                "generate": {"records": 20, "keys": 4}},
               {"id": "count", "op": "reduce", "agg": "count", "emit": "every", "parallelism": 2},
               {"id": "w", "op": "window", "size_ms": 5, "agg": "sum"},
               {"id": "out", "op": "sink", "delivery": "exactly_once"}"#,
            r#"{"from": "src", "to": "count", "partition": "hash"},
               {"from": "count", "to": "w", "partition": "hash"},
               {"from": "w", "to": "out"}"#,
        ),
        "graph.operators[3]",
        &["`w` assigns records to windows by ts", "emit: on_end", "upsert"],
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed files: never a panic, always an error with a position.

#[test]
fn a_missing_comma_is_reported_at_its_line() {
    let text = "{\n  \"name\": \"t\"\n  \"graph\": {\"operators\": []}\n}";
    let (line, column) = syntax_error(text.as_bytes());
    assert_eq!((line, column), (3, 3));
    check(text, ".", &["expected `,` or `}`"]);
}

#[test]
fn a_syntax_error_message_names_the_file_line_and_column() {
    let err = rejected(b"{\n  \"name\": \"t\",\n  \"graph\": {\"operators\": [}\n}");
    let text = err.to_string();
    assert!(text.starts_with("t.json:3:"), "{text}");
    assert!(text.contains("syntax error"), "{text}");
}

#[test]
fn an_empty_file_is_an_error() {
    let (line, _) = syntax_error(b"");
    assert_eq!(line, 1);
}

#[test]
fn a_file_of_whitespace_is_an_error() {
    syntax_error(b"  \n\n  ");
}

#[test]
fn a_truncated_file_is_an_error() {
    let full = with("");
    for cut in [1, full.len() / 3, full.len() / 2, full.len() - 1] {
        let (line, _) = syntax_error(&full.as_bytes()[..cut]);
        assert!(line <= full[..cut].lines().count().max(1) + 1);
    }
}

#[test]
fn binary_garbage_is_an_error() {
    // A fixed xorshift stream: random bytes, deterministic test.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in [1usize, 7, 64, 1000, 4096] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8 | 0x80
            })
            .collect();
        assert!(std::str::from_utf8(&bytes).is_err(), "the garbage is not UTF-8");
        rejected(&bytes);
    }
}

#[test]
fn invalid_utf8_inside_a_string_is_an_error() {
    let mut bytes = br#"{"name": ""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bytes.extend_from_slice(br#"", "graph": {"operators": []}}"#);
    syntax_error(&bytes);
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(10_000);
    rejected(deep.as_bytes());
    let closed = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    rejected(closed.as_bytes());
    let in_a_field = format!(
        "{{\"name\": \"t\", \"description\": {}{}, {GRAPH}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    rejected(in_a_field.as_bytes());
    let in_fn = with_map(&format!(", \"fn\": {}1{}", "[".repeat(100_000), "]".repeat(100_000)));
    rejected(in_fn.as_bytes());
}

#[test]
fn trailing_garbage_after_the_document_is_an_error() {
    let text = format!("{}\nxyz", with(""));
    let (line, _) = syntax_error(text.as_bytes());
    assert_eq!(line, text.lines().count());
    check(&text, ".", &["trailing characters"]);
}

#[test]
fn a_second_document_after_the_first_is_an_error() {
    let text = format!("{} {}", with(""), with(""));
    syntax_error(text.as_bytes());
}

#[test]
fn a_document_that_is_not_an_object_is_an_error() {
    for text in ["[]", "42", "\"scenario\"", "null", "true"] {
        rejected(text.as_bytes());
    }
}

#[test]
fn a_byte_order_mark_or_nul_bytes_do_not_panic() {
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(with("").as_bytes());
    let _ = load_bytes(&with_bom, "t.json");
    rejected(b"\0\0\0\0");
    rejected(format!("{}\0", with("")).as_bytes());
}

#[test]
fn escaped_keys_and_non_ascii_text_do_not_confuse_positions() {
    // Locator must cope with escapes and multi-byte characters before the error.
    let text = "{\"name\": \"t\\\"ü\\u00e9\",\n\"description\": \"日本語 ✓\", \"cluster\": {\"nodes\": 0}, \
                \"graph\": {\"operators\": [{\"id\": \"src\", \"op\": \"source\", \"generate\": \
                {\"records\": 5}}, {\"id\": \"out\", \"op\": \"sink\"}], \"edges\": [{\"from\": \
                \"src\", \"to\": \"out\"}]}}";
    let err = rejected(text.as_bytes());
    let p = err.problems().iter().find(|p| p.path == "cluster.nodes").expect("cluster.nodes");
    // Columns count characters: `"日本語 ✓"` is 7 columns wide, not 13 bytes.
    assert_eq!(p.position, Some((2, 46)), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Reporting.

#[test]
fn several_problems_in_one_file_are_all_reported() {
    let text = r#"{
  "name": "t",
  "graph": {
    "operators": [
      {"id": "src", "op": "source", "parallelism": 0, "generate": {"records": 5, "keys": 0}},
      {"id": "out", "op": "sink", "delivery": "sometimes"}
    ],
    "edges": [{"from": "src", "to": "out"}]
  },
  "cluster": {"nodes": 65},
  "network": {"channel_capacity": 0},
  "checkpointing": {"mode": "eventually"},
  "recovery": {"failover": "partial"},
  "expect": {"holds": ["speed"]}
}"#;
    let err = rejected(text.as_bytes());
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    for want in [
        "graph.operators[0].parallelism",
        "graph.operators[0].generate.keys",
        "graph.operators[1].delivery",
        "cluster.nodes",
        "network.channel_capacity",
        "checkpointing.mode",
        "recovery.failover",
        "expect.holds[0]",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}\n{err}");
    }
    // One line per problem, each naming the file.
    let rendered = err.to_string();
    assert_eq!(rendered.lines().count(), err.problems().len(), "{rendered}");
    assert!(rendered.lines().all(|l| l.starts_with("t.json:")), "{rendered}");
}

#[test]
fn a_semantic_error_points_at_the_offending_value() {
    let text = "{\n  \"name\": \"t\",\n  \"cluster\": {\"nodes\": 0},\n  ".to_string()
        + GRAPH
        + ",\n  \"checkpointing\": {\n    \"mode\": \"eventually\"\n  }\n}";
    let err = rejected(text.as_bytes());
    let at = |path: &str| {
        err.problems()
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("no problem at {path}: {err}"))
            .position
    };
    // `  "cluster": {"nodes": 0},` — the 0 is at column 24 of line 3.
    assert_eq!(at("cluster.nodes"), Some((3, 24)));
    let mode_line = text.lines().position(|l| l.contains("\"mode\"")).expect("mode line") + 1;
    assert_eq!(at("checkpointing.mode"), Some((mode_line, 13)));
    let rendered = err.to_string();
    assert!(rendered.contains("t.json:3:24: at cluster.nodes: "), "{rendered}");
}

#[test]
fn a_type_error_points_at_its_position() {
    let text = "{\n  \"name\": \"t\",\n  \"seed\": \"seven\"\n}";
    let err = rejected(text.as_bytes());
    let p = &err.problems()[0];
    assert_eq!(p.path, "seed");
    assert_eq!(p.position.map(|(line, _)| line), Some(3), "{err}");
}

#[test]
fn a_problem_with_a_missing_value_points_at_its_parent() {
    let text = "{\"name\": \"t\",\n \"graph\": {\"operators\": [\n  {\"id\": \"w\", \"op\": \"window\"}]}}";
    let err = rejected(text.as_bytes());
    let p = err
        .problems()
        .iter()
        .find(|p| p.path == "graph.operators[0]")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(p.position, Some((3, 3)), "{err}");
}

#[test]
fn the_largest_numbers_anywhere_do_not_panic() {
    const MAX: &str = "18446744073709551615";
    let cases = [
        with(&format!(r#""seed": {MAX}"#)),
        with(&format!(r#""cluster": {{"nodes": {MAX}}}"#)),
        with(&format!(r#""network": {{"latency_ms": {{"min": {MAX}, "max": {MAX}}}}}"#)),
        with(r#""network": {"latency_ms": {"min": 100000, "max": 100000}}"#),
        with(&format!(r#""network": {{"control_latency_ms": {{"min": {MAX}, "max": {MAX}}}}}"#)),
        with(&format!(r#""network": {{"channel_capacity": {MAX}, "output_capacity": {MAX}}}"#)),
        with(&format!(r#""storage": {{"latency_ms": {{"min": {MAX}, "max": {MAX}}}}}"#)),
        with(&format!(
            r#""checkpointing": {{"interval_ms": {MAX}, "timeout_ms": {MAX}, "min_pause_ms": {MAX},
                "max_concurrent": {MAX}, "tolerable_failures": {MAX}, "alignment_timeout_ms": {MAX}}}"#
        )),
        with(&format!(r#""recovery": {{"restart": {{"attempts": {MAX}, "delay_ms": {MAX}}}}}"#)),
        with(&format!(
            r#""recovery": {{"restart": {{"strategy": "exponential_delay", "initial_ms": {MAX},
                "max_ms": {MAX}, "multiplier": 1e308}}}}"#
        )),
        with(&format!(
            r#""recovery": {{"restart": {{"strategy": "failure_rate", "max_failures": {MAX},
                "interval_ms": {MAX}, "delay_ms": {MAX}}}}}"#
        )),
        with(&format!(
            r#""faults": [{{"at_ms": {MAX}, "kind": "crash_node", "node": "node-0",
                "restart_after_ms": {MAX}}}]"#
        )),
        with(&format!(
            r#""faults": [{{"on": {{"event": "source_emit", "offset": {MAX}}}, "delay_ms": {MAX},
                "kind": "storage_fail", "duration_ms": {MAX}}}]"#
        )),
        with(&format!(
            r#""faults": [{{"kind": "random", "mean_interval_ms": {MAX}, "max_faults": {MAX},
                "until_ms": {MAX}}}]"#
        )),
        with(&format!(r#""limits": {{"max_sim_ms": {MAX}, "max_events": {MAX}}}"#)),
        with_source(&format!(
            r#""parallelism": {MAX}, "cost_us": {MAX}, "rate_per_ms": 1e308,
               "generate": {{"records": {MAX}, "keys": {MAX}, "ts_step_ms": {MAX}, "seed": {MAX}}}"#
        )),
        with_source(
            r#""generate": {"records": 5, "values": {"random": [-9223372036854775808, 9223372036854775807]}}"#,
        ),
        with_source(
            r#""data": [[{"key": -9223372036854775808, "value": 9223372036854775807, "ts": 9223372036854775807}]]"#,
        ),
        with_map(&format!(r#", "fn": {{"rekey_mod": {MAX}}}"#)),
        with_map(r#", "fn": {"mul": 9223372036854775807}"#),
        with_map(&format!(r#", "fn": {{"add": {MAX}}}"#)),
        with_map(&format!(r#", "fn": {{"repeat": {MAX}}}"#))
            .replace(r#""op": "map""#, r#""op": "flat_map""#),
        with_map(&format!(r#", "fn": {{"key_mod": [{MAX}, 0]}}"#))
            .replace(r#""op": "map""#, r#""op": "filter""#),
        with_map(r#", "fn": {"value_mod": [9223372036854775807, 9223372036854775806]}"#)
            .replace(r#""op": "map""#, r#""op": "filter""#),
        graph(
            &format!(
                r#"{{"id": "src", "op": "source", "generate": {{"records": 5}}}},
                   {{"id": "w", "op": "window", "size_ms": {MAX}}},
                   {{"id": "out", "op": "sink"}}"#
            ),
            r#"{"from": "src", "to": "w"}, {"from": "w", "to": "out"}"#,
        ),
    ];
    for text in &cases {
        let outcome = std::panic::catch_unwind(|| load_bytes(text.as_bytes(), "t.json"));
        assert!(outcome.is_ok(), "panicked on:\n{text}");
    }
}

#[test]
fn corrupted_scenario_files_give_errors_not_panics() {
    // Deterministic corruption of every shipped scenario: replaced, deleted and duplicated
    // bytes and tokens. Each result must load or be rejected, never panic.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let tokens: [&[u8]; 12] =
        [b"0", b"-1", b"[", b"]", b"{", b"}", b"\"", b",", b"null", b"1e999", b"\\u0000", b"\xff"];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for path in &files {
        let original = std::fs::read(path).expect("readable");
        for _ in 0..300 {
            let mut bytes = original.clone();
            for _ in 0..1 + next(3) {
                let at = next(bytes.len());
                match next(3) {
                    0 => {
                        let t = tokens[next(tokens.len())];
                        bytes.splice(at..at + 1, t.iter().copied());
                    }
                    1 => {
                        bytes.remove(at);
                    }
                    _ => {
                        let end = (at + 1 + next(20)).min(bytes.len());
                        let copy = bytes[at..end].to_vec();
                        bytes.splice(at..at, copy);
                    }
                }
            }
            let outcome = std::panic::catch_unwind(|| load_bytes(&bytes, "t.json"));
            assert!(outcome.is_ok(), "panicked on:\n{}", String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn syntax_error_columns_count_characters_not_bytes() {
    // `x` is the 17th character of its line in the first two (16th on a line without the `{`);
    // "ééé" takes six bytes.
    assert_eq!(syntax_error("{\"name\": \"abc\", x}".as_bytes()), (1, 17));
    assert_eq!(syntax_error("{\"name\": \"ééé\", x}".as_bytes()), (1, 17));
    assert_eq!(
        syntax_error("{\n\"description\": \"ü\",\n\"name\": \"ééé\", x}".as_bytes()),
        (3, 16)
    );
}

#[test]
fn type_error_columns_count_characters_not_bytes() {
    let e = rejected("{\n  \"description\": \"ünïcödé\", \"name\": 3}".as_bytes());
    assert!(e.to_string().starts_with("t.json:2:37:"), "{e}");
}
