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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpState {
    Stateless,
    Reduce(ReduceState),
    Window(WindowState),
    Join(JoinState),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Acc {
    pub value: i64,
    /// Largest ts seen for the key (the ts of an on_end result).
    pub ts: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReduceState {
    /// One accumulator per key slot of this subtask.
    pub accs: Vec<Option<Acc>>,
}

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

/// The combined input watermark advanced to `wm`: fire complete windows (end ≤ wm).
pub fn on_watermark(state: &mut OpState, cx: &Ctx<'_>, wm: i64, out: &mut Vec<Record>) {
    match (cx.kind, state) {
        (OpKind::Window { size_ms, .. }, OpState::Window(s)) => {
            while let Some(entry) = s.windows.first_entry() {
                let (start, key) = *entry.key();
                let end = start.saturating_add(*size_ms);
                if end > wm {
                    break;
                }
                let value = entry.remove();
                out.push(Record { key, value, ts: end - 1 });
            }
        }
        (OpKind::Join { size_ms }, OpState::Join(s)) => {
            while let Some(entry) = s.windows.first_entry() {
                let (start, key) = *entry.key();
                let end = start.saturating_add(*size_ms);
                if end > wm {
                    break;
                }
                let (mut left, mut right) = entry.remove();
                // Sorted, so that the pairs of a window come out in one fixed order.
                left.sort_unstable();
                right.sort_unstable();
                for l in &left {
                    for r in &right {
                        out.push(Record { key, value: l.wrapping_add(*r), ts: end - 1 });
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
        (OpKind::Window { .. } | OpKind::Join { .. }, _) => on_watermark(state, cx, i64::MAX, out),
        _ => {}
    }
}
