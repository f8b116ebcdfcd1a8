//! Validation of sources: `data` arrays and `generate` parameters (the records of a generator
//! are made in `partition.rs`).

use super::schema::{GenerateSpec, KeySpec, OperatorSpec};
use super::source_partition::{Distribution, Generator, Values};
use super::validate::{range_check, Problems};
use crate::record::Key;
use serde_json::Value;

pub const MAX_RECORDS: u64 = 10_000_000;
pub const MAX_KEYS: u64 = 1_000_000;

/// A source's data before keys are interned.
pub(super) enum SourceData {
    Generate(Generator),
    Literal(Vec<Vec<(Key, i64, i64)>>),
}

/// The data of a source, or `None` after recording its problems.
pub(super) fn check_source(
    s: &OperatorSpec,
    parallelism: u64,
    p: &str,
    v: &mut Problems,
) -> Option<(SourceData, Option<u64>)> {
    let rate_per_s = match s.rate_per_ms {
        None => None,
        Some(r) if r.is_finite() && r > 0.0 && r <= 1_000_000.0 => {
            Some(((r * 1000.0).round() as u64).max(1))
        }
        Some(r) => {
            v.push((
                format!("{p}.rate_per_ms"),
                format!("the rate must be above 0 and at most 1000000 records per ms, got {r}"),
            ));
            None
        }
    };
    let data = match (&s.generate, &s.data) {
        (Some(_), Some(_)) => {
            v.push((p.to_string(), "a source has either `generate` or `data`, not both".into()));
            return None;
        }
        (None, None) => {
            v.push((p.to_string(), "a source needs `generate` or `data`".into()));
            return None;
        }
        (Some(g), None) => {
            SourceData::Generate(check_generate(g, parallelism, &format!("{p}.generate"), v)?)
        }
        (None, Some(data)) => {
            if data.len() as u64 != parallelism {
                v.push((
                    format!("{p}.data"),
                    format!(
                        "`data` has {} partitions but the source has parallelism {parallelism}: \
                         give one array of records per subtask",
                        data.len()
                    ),
                ));
                return None;
            }
            let total: usize = data.iter().map(Vec::len).sum();
            if total as u64 > MAX_RECORDS {
                v.push((format!("{p}.data"), format!("at most {MAX_RECORDS} records")));
                return None;
            }
            let mut parts = Vec::with_capacity(data.len());
            for (i, part) in data.iter().enumerate() {
                let mut last = 0i64;
                let mut out = Vec::with_capacity(part.len());
                for (j, r) in part.iter().enumerate() {
                    let rp = format!("{p}.data[{i}][{j}]");
                    if r.ts < 0 {
                        v.push((
                            format!("{rp}.ts"),
                            format!("event time cannot be negative, got {}", r.ts),
                        ));
                    } else if r.ts < last {
                        v.push((
                            format!("{rp}.ts"),
                            format!(
                                "ts {} is below the previous record's ts {last}: within a partition \
                                 ts never decreases (sources emit the last ts as their watermark)",
                                r.ts
                            ),
                        ));
                    }
                    last = last.max(r.ts);
                    let key = match &r.key {
                        KeySpec::Int(i) => Key::Int(*i),
                        KeySpec::Str(s) => Key::Str(s.clone()),
                    };
                    out.push((key, r.value, r.ts));
                }
                parts.push(out);
            }
            SourceData::Literal(parts)
        }
    };
    Some((data, rate_per_s))
}

fn check_generate(
    g: &GenerateSpec,
    parallelism: u64,
    p: &str,
    v: &mut Problems,
) -> Option<Generator> {
    let before = v.len();
    let total = g.records.saturating_mul(parallelism);
    if total > MAX_RECORDS {
        v.push((
            format!("{p}.records"),
            format!(
                "{} records per partition × parallelism {parallelism} is above the limit of \
                 {MAX_RECORDS} records per source",
                g.records
            ),
        ));
    }
    range_check(v, &format!("{p}.keys"), "the number of keys", g.keys, 1, MAX_KEYS);
    range_check(v, &format!("{p}.ts_step_ms"), "ts_step_ms", g.ts_step_ms, 0, 1_000_000);
    let distribution = match g.distribution.as_str() {
        "uniform" => Distribution::Uniform,
        "zipf" => Distribution::Zipf,
        "round_robin" => Distribution::RoundRobin,
        other => {
            v.push((
                format!("{p}.distribution"),
                format!("unknown distribution `{other}`: use uniform, zipf or round_robin"),
            ));
            Distribution::Uniform
        }
    };
    let values = match &g.values {
        None => Values::One,
        Some(Value::String(s)) if s == "one" => Values::One,
        Some(Value::String(s)) if s == "sequence" => Values::Sequence,
        Some(Value::Object(o)) if o.len() == 1 && o.contains_key("random") => {
            match o["random"].as_array().map(|a| a.iter().map(Value::as_i64).collect::<Vec<_>>()) {
                Some(r) if r.len() == 2 && r[0].is_some() && r[1].is_some() => {
                    let (lo, hi) = (r[0].unwrap_or(0), r[1].unwrap_or(0));
                    if lo > hi {
                        v.push((
                            format!("{p}.values.random"),
                            format!("lo ({lo}) is above hi ({hi})"),
                        ));
                    }
                    Values::Random(lo, hi)
                }
                _ => {
                    v.push((
                        format!("{p}.values.random"),
                        "`random` takes [lo, hi], two integers".into(),
                    ));
                    Values::One
                }
            }
        }
        Some(_) => {
            v.push((
                format!("{p}.values"),
                "`values` is \"one\", \"sequence\" or {\"random\": [lo, hi]}".into(),
            ));
            Values::One
        }
    };
    (v.len() == before).then_some(Generator {
        records: g.records,
        keys: g.keys,
        distribution,
        values,
        ts_step_ms: g.ts_step_ms,
        seed: g.seed,
    })
}
