//! What the nodes of one parallel batch reach (see `search`).

/// The states the nodes of one batch reach, shared by the worker threads: for each
/// fingerprint, the least position (node in the batch, event) at which it was reached with an
/// empty sleep set. A successor reached at a later position is dropped by the merge (the
/// earlier arrival leaves no event asleep in the visited set), so its world need not be
/// kept. Whether a thread sees the earlier arrival in time only changes what it keeps, never
/// what the merge decides.
pub(super) struct Arrivals {
    keys: Vec<std::sync::atomic::AtomicU64>,
    first: Vec<std::sync::atomic::AtomicU64>,
}

impl Arrivals {
    pub(super) fn new(slots: usize) -> Arrivals {
        let n = slots.next_power_of_two();
        Arrivals {
            keys: (0..n).map(|_| std::sync::atomic::AtomicU64::new(0)).collect(),
            first: (0..n).map(|_| std::sync::atomic::AtomicU64::new(u64::MAX)).collect(),
        }
    }

    /// The slot of `fp`, claimed if it has none; `None` when the table is full.
    fn slot(&self, fp: u64) -> Option<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let mask = self.keys.len() - 1;
        let mut i = (fp as usize) & mask;
        for _ in 0..self.keys.len() {
            match self.keys[i].compare_exchange(0, fp, Relaxed, Relaxed) {
                Ok(_) => return Some(i),
                Err(k) if k == fp => return Some(i),
                Err(_) => i = (i + 1) & mask,
            }
        }
        None
    }

    /// Records an arrival at `fp` at position `at`; returns whether an arrival with an empty
    /// sleep set was recorded at an earlier position.
    pub(super) fn arrive(&self, fp: u64, at: u64, empty_sleep: bool) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(i) = self.slot(fp) else { return false };
        if self.first[i].load(Relaxed) < at {
            return true;
        }
        if empty_sleep {
            self.first[i].fetch_min(at, Relaxed);
        }
        false
    }
}
