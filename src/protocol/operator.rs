//! Operator logic as pure state machines: records, watermarks and end of input in, records
//! out. No time, no channels, no I/O: the task runtime routes what they emit.
//!
//! State is dense and keyed by slot (see [`crate::graph::KeySlots`]), so a snapshot is a
//! plain clone and per-record processing does not allocate (window and join state are
//! ordered maps keyed by (window start, key): they allocate per new window and key).

use crate::graph::KeySlots;
use crate::ids::KeyId;
use crate::record::{KeyTable, Record};
use crate::scenario::model::{Agg, Emit, FilterFn, MapFn, OpKind, Side, WindowAgg};
use std::collections::BTreeMap;

/// The mutable state of one operator subtask (sources and sinks keep theirs elsewhere).
#[derive(Debug, PartialEq, Eq, Hash)]
pub enum OpState {
    Stateless,
    Reduce(ReduceState),
    Window(WindowState),
    Join(JoinState),
}

impl Clone for OpState {
    fn clone(&self) -> Self {
        match self {
            OpState::Stateless => OpState::Stateless,
            OpState::Reduce(r) => OpState::Reduce(r.clone()),
            OpState::Window(w) => OpState::Window(w.clone()),
            OpState::Join(j) => OpState::Join(j.clone()),
        }
    }

    /// In place when both are of the same kind, keeping allocations.
    fn clone_from(&mut self, src: &Self) {
        match (self, src) {
            (OpState::Reduce(a), OpState::Reduce(b)) => a.clone_from(b),
            (OpState::Window(a), OpState::Window(b)) => a.clone_from(b),
            (OpState::Join(a), OpState::Join(b)) => a.clone_from(b),
            (a, b) => *a = b.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Acc {
    pub value: i64,
    /// Largest ts seen for the key (the ts of an on_end result).
    pub ts: i64,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ReduceState {
    /// One accumulator per key slot of this subtask.
    pub accs: Vec<Option<Acc>>,
}

clone_fields!(ReduceState { accs });

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WindowState {
    /// (window start, key) → aggregate.
    pub windows: BTreeMap<(i64, KeyId), i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct JoinState {
    /// (window start, key) → (values from the left input, values from the right input).
    pub windows: BTreeMap<(i64, KeyId), (Vec<i64>, Vec<i64>)>,
}

impl OpState {
    /// The initial state of a subtask of an operator of kind `kind`.
    pub fn initial(kind: &OpKind, slots: Option<&KeySlots>, subtask: u16) -> OpState {
        match kind {
            OpKind::Reduce { .. } => {
                let n = slots.expect("keyed operators have key slots").per_subtask
                    [usize::from(subtask)];
                OpState::Reduce(ReduceState { accs: vec![None; n as usize] })
            }
            OpKind::Window { .. } => OpState::Window(WindowState::default()),
            OpKind::Join { .. } => OpState::Join(JoinState::default()),
            _ => OpState::Stateless,
        }
    }
}

/// The window that `ts` falls in: its start (a multiple of `size`).
pub fn window_start(ts: i64, size: i64) -> i64 {
    ts - ts.rem_euclid(size)
}

/// The last millisecond of the window that starts at `start`: start + size − 1, except for
/// the window that holds `i64::MAX`, which time itself cuts short there.
pub fn window_last(start: i64, size: i64) -> i64 {
    start.saturating_add(size - 1)
}

/// Everything an operator needs besides its state: its definition and the job's tables.
pub struct Ctx<'a> {
    pub kind: &'a OpKind,
    pub slots: Option<&'a KeySlots>,
    pub subtask: u16,
    pub keys: &'a KeyTable,
}

/// Processes one record; appends what it emits to `out`.
pub fn on_record(
    state: &mut OpState,
    cx: &Ctx<'_>,
    side: Option<Side>,
    r: Record,
    out: &mut Vec<Record>,
) {
    match (cx.kind, state) {
        (OpKind::Map(f), _) => out.push(match f {
            MapFn::Identity => r,
            MapFn::Add(n) => Record { value: r.value.wrapping_add(*n), ..r },
            MapFn::Mul(n) => Record { value: r.value.wrapping_mul(*n), ..r },
            MapFn::RekeyMod { table, .. } => Record { key: table[r.key.index()], ..r },
        }),
        (OpKind::Filter(f), _) => {
            let keep = match *f {
                FilterFn::ValueMod { m, r: rem } => r.value.rem_euclid(m) == rem,
                FilterFn::KeyMod { m, r: rem } => cx.keys.hash(r.key) % m == rem,
            };
            if keep {
                out.push(r);
            }
        }
        (OpKind::FlatMap { repeat }, _) => {
            for _ in 0..*repeat {
                out.push(r);
            }
        }
        (OpKind::Reduce { agg, emit }, OpState::Reduce(s)) => {
            let slot = cx.slots.expect("keyed").slot[r.key.index()] as usize;
            let acc = &mut s.accs[slot];
            let value = match (acc.as_ref(), agg) {
                (None, Agg::Count) => 1,
                (None, _) => r.value,
                (Some(a), Agg::Count) => a.value.wrapping_add(1),
                (Some(a), Agg::Sum) => a.value.wrapping_add(r.value),
                (Some(a), Agg::Min) => a.value.min(r.value),
                (Some(a), Agg::Max) => a.value.max(r.value),
            };
            let ts = acc.map_or(r.ts, |a| a.ts.max(r.ts));
            *acc = Some(Acc { value, ts });
            if *emit == Emit::Every {
                out.push(Record { key: r.key, value, ts: r.ts });
            }
        }
        (OpKind::Window { size_ms, agg }, OpState::Window(s)) => {
            let w = s.windows.entry((window_start(r.ts, *size_ms), r.key)).or_insert(0);
            *w = match agg {
                WindowAgg::Count => w.wrapping_add(1),
                WindowAgg::Sum => w.wrapping_add(r.value),
            };
        }
        (OpKind::Join { size_ms }, OpState::Join(s)) => {
            let w = s.windows.entry((window_start(r.ts, *size_ms), r.key)).or_default();
            match side.expect("join inputs have a side") {
                Side::Left => w.0.push(r.value),
                Side::Right => w.1.push(r.value),
            }
        }
        (kind, _) => unreachable!("{} has no record handler for this state", kind.name()),
    }
}

/// The combined input watermark advanced to `wm`: fire complete windows, those whose last
/// millisecond is below `wm` (no record can still fall in them).
pub fn on_watermark(state: &mut OpState, cx: &Ctx<'_>, wm: i64, out: &mut Vec<Record>) {
    fire(state, cx, Some(wm), out);
}

/// Fires the windows complete under watermark `wm`, or all of them for `None` (end of input).
/// The window holding `i64::MAX` fires only then: its last millisecond is `i64::MAX`, which no
/// watermark can pass.
fn fire(state: &mut OpState, cx: &Ctx<'_>, wm: Option<i64>, out: &mut Vec<Record>) {
    let complete = |last: i64| wm.is_none_or(|wm| last < wm);
    match (cx.kind, state) {
        (OpKind::Window { size_ms, .. }, OpState::Window(s)) => {
            while let Some(entry) = s.windows.first_entry() {
                let (start, key) = *entry.key();
                let last = window_last(start, *size_ms);
                if !complete(last) {
                    break;
                }
                let value = entry.remove();
                out.push(Record { key, value, ts: last });
            }
        }
        (OpKind::Join { size_ms }, OpState::Join(s)) => {
            while let Some(entry) = s.windows.first_entry() {
                let (start, key) = *entry.key();
                let last = window_last(start, *size_ms);
                if !complete(last) {
                    break;
                }
                let (mut left, mut right) = entry.remove();
                // Sorted, so that the pairs of a window come out in one fixed order.
                left.sort_unstable();
                right.sort_unstable();
                for l in &left {
                    for r in &right {
                        out.push(Record { key, value: l.wrapping_add(*r), ts: last });
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether this operator forwards watermarks downstream while it runs. A reduce that emits
/// on end holds them back: its results come at the end, with ts that are in the past.
pub fn forwards_watermarks(kind: &OpKind) -> bool {
    !matches!(kind, OpKind::Reduce { emit: Emit::OnEnd, .. })
}

/// All inputs ended: emit what is left (final aggregates; windows not yet fired).
pub fn on_end(state: &mut OpState, cx: &Ctx<'_>, out: &mut Vec<Record>) {
    match (cx.kind, &mut *state) {
        (OpKind::Reduce { emit: Emit::OnEnd, .. }, OpState::Reduce(s)) => {
            // Keys are visited in key order; each belongs to exactly one subtask.
            let slots = cx.slots.expect("keyed");
            for (k, (&slot, &owner)) in slots.slot.iter().zip(&slots.owner).enumerate() {
                if owner != cx.subtask {
                    continue;
                }
                if let Some(acc) = s.accs[slot as usize] {
                    out.push(Record { key: KeyId(k as u32), value: acc.value, ts: acc.ts });
                }
            }
        }
        (OpKind::Window { .. } | OpKind::Join { .. }, _) => fire(state, cx, None, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Key;
    use crate::scenario::model::{Agg, Emit, WindowAgg};

    fn keys() -> KeyTable {
        KeyTable::from_sorted(vec![Key::Str("a".into()), Key::Str("b".into())])
    }

    fn rec(key: u32, value: i64, ts: i64) -> Record {
        Record { key: KeyId(key), value, ts }
    }

    #[test]
    fn a_window_fires_only_when_the_watermark_reaches_its_end_and_stamps_its_last_millisecond() {
        let kind = OpKind::Window { size_ms: 10, agg: WindowAgg::Sum };
        let table = keys();
        let cx = Ctx { kind: &kind, slots: None, subtask: 0, keys: &table };
        let mut st = OpState::initial(&kind, None, 0);
        let mut out = Vec::new();
        for r in [rec(0, 1, 3), rec(1, 5, 9), rec(0, 2, 9), rec(0, 7, 12)] {
            on_record(&mut st, &cx, None, r, &mut out);
        }
        assert!(out.is_empty(), "windows emit nothing until they fire");
        on_watermark(&mut st, &cx, 9, &mut out);
        assert!(out.is_empty(), "the watermark 9 does not pass the end 10 of [0, 10)");
        on_watermark(&mut st, &cx, 10, &mut out);
        assert_eq!(out, vec![rec(0, 3, 9), rec(1, 5, 9)]);
        out.clear();
        on_end(&mut st, &cx, &mut out);
        assert_eq!(out, vec![rec(0, 7, 19)], "end of input fires what is left");
    }

    #[test]
    fn the_window_that_holds_the_largest_ts_ends_there_and_fires_only_at_end_of_input() {
        const MAX: i64 = i64::MAX;
        let kind = OpKind::Window { size_ms: 10, agg: WindowAgg::Count };
        let table = keys();
        let cx = Ctx { kind: &kind, slots: None, subtask: 0, keys: &table };
        let mut st = OpState::initial(&kind, None, 0);
        let mut out = Vec::new();
        // MAX = ...807: the window [...790, ...800) ends before it, [...800, ...810) would not.
        for r in [rec(0, 1, MAX - 8), rec(0, 1, MAX - 7), rec(0, 1, MAX), rec(1, 1, MAX)] {
            on_record(&mut st, &cx, None, r, &mut out);
        }
        on_watermark(&mut st, &cx, MAX, &mut out);
        assert_eq!(out, vec![rec(0, 1, MAX - 8)], "a watermark at MAX fires what ends by then");
        out.clear();
        on_record(&mut st, &cx, None, rec(0, 1, MAX), &mut out);
        on_end(&mut st, &cx, &mut out);
        assert_eq!(out, vec![rec(0, 3, MAX), rec(1, 1, MAX)], "one result per key, at MAX");

        let kind = OpKind::Join { size_ms: 1 };
        let cx = Ctx { kind: &kind, slots: None, subtask: 0, keys: &table };
        let mut st = OpState::initial(&kind, None, 0);
        out.clear();
        on_record(&mut st, &cx, Some(Side::Left), rec(0, 1, MAX - 1), &mut out);
        on_record(&mut st, &cx, Some(Side::Right), rec(0, 2, MAX - 1), &mut out);
        on_record(&mut st, &cx, Some(Side::Left), rec(0, 3, MAX), &mut out);
        on_watermark(&mut st, &cx, MAX, &mut out);
        on_record(&mut st, &cx, Some(Side::Right), rec(0, 4, MAX), &mut out);
        on_end(&mut st, &cx, &mut out);
        assert_eq!(out, vec![rec(0, 3, MAX - 1), rec(0, 7, MAX)]);
    }

    #[test]
    fn a_join_pairs_every_left_with_every_right_value_in_sorted_order() {
        let kind = OpKind::Join { size_ms: 5 };
        let table = keys();
        let cx = Ctx { kind: &kind, slots: None, subtask: 0, keys: &table };
        let mut st = OpState::initial(&kind, None, 0);
        let mut out = Vec::new();
        on_record(&mut st, &cx, Some(Side::Right), rec(0, 100, 1), &mut out);
        on_record(&mut st, &cx, Some(Side::Left), rec(0, 2, 2), &mut out);
        on_record(&mut st, &cx, Some(Side::Left), rec(0, 1, 4), &mut out);
        on_record(&mut st, &cx, Some(Side::Left), rec(1, 9, 4), &mut out);
        on_watermark(&mut st, &cx, 5, &mut out);
        assert_eq!(out, vec![rec(0, 101, 4), rec(0, 102, 4)], "key b has no right side: no pair");
    }

    #[test]
    fn a_running_reduce_emits_every_update_with_the_ts_of_its_record() {
        let kind = OpKind::Reduce { agg: Agg::Sum, emit: Emit::Every };
        let slots = KeySlots { slot: vec![0, 1], owner: vec![0, 0], per_subtask: vec![2] };
        let table = keys();
        let cx = Ctx { kind: &kind, slots: Some(&slots), subtask: 0, keys: &table };
        let mut st = OpState::initial(&kind, Some(&slots), 0);
        let mut out = Vec::new();
        on_record(&mut st, &cx, None, rec(0, 4, 7), &mut out);
        on_record(&mut st, &cx, None, rec(0, 3, 2), &mut out);
        assert_eq!(out, vec![rec(0, 4, 7), rec(0, 7, 2)]);
    }

    #[test]
    fn an_on_end_reduce_emits_only_the_keys_its_subtask_owns_in_key_order() {
        let kind = OpKind::Reduce { agg: Agg::Count, emit: Emit::OnEnd };
        // Key a belongs to subtask 1, key b to subtask 0: both have slot 0 in their subtask.
        let slots = KeySlots { slot: vec![0, 0], owner: vec![1, 0], per_subtask: vec![1, 1] };
        let table = keys();
        let cx = Ctx { kind: &kind, slots: Some(&slots), subtask: 0, keys: &table };
        let mut st = OpState::initial(&kind, Some(&slots), 0);
        let mut out = Vec::new();
        on_record(&mut st, &cx, None, rec(1, 0, 3), &mut out);
        on_record(&mut st, &cx, None, rec(1, 0, 8), &mut out);
        assert!(out.is_empty());
        on_end(&mut st, &cx, &mut out);
        assert_eq!(out, vec![rec(1, 2, 8)], "count 2, stamped with the largest ts");
        assert!(!forwards_watermarks(&kind), "an on_end reduce holds watermarks back");
    }

    #[test]
    fn stateless_functions_transform_record_by_record() {
        let table = keys();
        let run = |kind: OpKind, r: Record| {
            let cx = Ctx { kind: &kind, slots: None, subtask: 0, keys: &table };
            let mut st = OpState::initial(&kind, None, 0);
            let mut out = Vec::new();
            on_record(&mut st, &cx, None, r, &mut out);
            out
        };
        assert_eq!(run(OpKind::Map(MapFn::Add(3)), rec(0, 4, 1)), vec![rec(0, 7, 1)]);
        assert_eq!(run(OpKind::Map(MapFn::Mul(-2)), rec(0, 4, 1)), vec![rec(0, -8, 1)]);
        assert_eq!(
            run(OpKind::Filter(FilterFn::ValueMod { m: 2, r: 1 }), rec(0, -3, 1)),
            vec![rec(0, -3, 1)]
        );
        assert_eq!(run(OpKind::Filter(FilterFn::ValueMod { m: 2, r: 1 }), rec(0, 4, 1)), vec![]);
        assert_eq!(run(OpKind::FlatMap { repeat: 3 }, rec(1, 1, 1)).len(), 3);
        assert_eq!(window_start(-1, 10), -10);
    }
}
