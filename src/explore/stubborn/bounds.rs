//! Bounds on what a template's events may touch later, from the same pieces as
//! [`Fp::of`](crate::explore::footprint::Fp::of).

use crate::explore::footprint::{Footprint, Fp, Single};
use crate::ids::{ChannelId, TaskId};
use crate::scenario::model::{CheckpointMode, Delivery, Mutation, OpKind};

impl Fp<'_> {
    /// A bound on any step of `u`: records, watermarks, end of data, and (if `barriers`)
    /// barriers and end of partition.
    pub(super) fn of_step_bound(&self, u: TaskId, barriers: bool, last: bool) -> Footprint {
        let res = self.res;
        let job = self.job;
        let info = &job.tasks[u.index()];
        let mut f = Footprint::NONE;
        f.write(res.task(u));
        f.write(res.status(u)); // end of data: finishing
        self.outputs(u, &mut f);
        let checkpointing = job.scenario.checkpointing.mode != CheckpointMode::Disabled;
        if matches!(job.operator_of(u).kind, OpKind::Source(_)) {
            if job.scenario.mutations.contains(&Mutation::NoSourceRewind) {
                self.durable(&mut f);
            }
            if !checkpointing {
                self.finish(u, last, false, false, &mut f);
            }
            return f;
        }
        f.write(res.gate(u));
        for &c in &info.inputs {
            f.append(res.chan_in(c));
            f.append(res.chan_tail(c));
        }
        if let OpKind::Sink { delivery } = job.operator_of(u).kind {
            if delivery != Delivery::ExactlyOnce || !checkpointing {
                self.sink_write(u, &mut f);
            }
        }
        if !checkpointing {
            self.sink_write(u, &mut f);
            self.finish(u, last, false, false, &mut f);
        }
        if barriers {
            for &c in &info.inputs {
                f.read(res.chan_in(c));
            }
            f.write(res.upload_of(u));
            self.snapshot(u, &mut f);
            if job.scenario.mutations.contains(&Mutation::SnapshotAfterBarrierRecords) {
                for &c in &info.inputs {
                    f.write(res.chan_in(c));
                }
                self.sink_write(u, &mut f);
            }
        }
        f
    }

    pub(super) fn of_deliver_bound(&self, c: ChannelId, to: TaskId) -> Footprint {
        let mut f = Footprint::NONE;
        f.append(self.res.chan_tail(c));
        f.append(self.res.chan_in(c));
        f.read(self.res.status(to));
        f.write(self.res.gate(to));
        f
    }

    pub(super) fn of_notify_bound(
        &self,
        u: TaskId,
        finishing: bool,
        last: bool,
        coord: bool,
        completes: bool,
    ) -> Footprint {
        let mut f = Footprint::NONE;
        f.read(self.res.status(u));
        f.write(self.res.ckpt(u));
        if matches!(self.job.operator_of(u).kind, OpKind::Sink { .. }) {
            self.sink_write(u, &mut f);
            f.read(self.res.single(Single::StoreCompleted));
        }
        if finishing {
            self.finish(u, last, coord, completes, &mut f);
        }
        f
    }

    pub(super) fn of_upload_bound(&self, u: TaskId) -> Footprint {
        let mut f = Footprint::NONE;
        f.append(self.res.single(Single::Uploaded));
        f.read(self.res.upload_of(u));
        if self.job.scenario.mutations.contains(&Mutation::AckBeforeUpload) {
            f.write(self.res.single(Single::StoreCompleted));
            self.durable(&mut f);
        }
        f
    }

    /// A bound on a trigger message reaching `u`.
    pub(super) fn of_trigger_bound(&self, u: TaskId) -> Footprint {
        let mut f = Footprint::NONE;
        f.read(self.res.status(u));
        self.snapshot(u, &mut f);
        self.outputs(u, &mut f);
        if !matches!(self.job.operator_of(u).kind, OpKind::Source(_)) {
            f.write(self.res.gate(u));
        }
        f
    }
}
