//! Messages, timers and disk records of the Kafka model.

use crate::log::{Runs, run_len};
use sim_core::{Message, Time};

/// The state of one partition as the controller decides it (Kafka keeps it in ZooKeeper/KRaft).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartState {
    pub leader: Option<u32>,
    pub leader_epoch: u32,
    pub isr: Vec<u32>,
    /// Bumped on every change (leader or ISR).
    pub version: u64,
    /// The leader's incarnation when it was elected: a leader that restarted since (and may have
    /// lost the unsynced tail of its log) must not lead again under the same epoch.
    pub leader_incarnation: u64,
    /// The epoch of the controller that decided (or re-proposed) it: with `version`, the order of
    /// states (`key`), so a new controller's states beat a deposed one's uncommitted proposals.
    pub decided_by: u64,
}

impl PartState {
    pub fn key(&self) -> (u64, u64) {
        (self.decided_by, self.version)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Acks {
    /// Fire and forget: the producer counts the message as sent at once.
    Zero,
    /// The leader acknowledges once the message is in its own log.
    One,
    /// The leader acknowledges once every in-sync replica has it (the high-water mark passed it).
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProduceError {
    NotLeader,
    NotEnoughReplicas,
    OutOfOrderSequence,
}

#[derive(Clone, Debug)]
pub enum FetchResult {
    Entries {
        base: u64,
        /// Shared with the leader's log (see [`Run`]).
        entries: Runs,
        hwm: u64,
    },
    /// The follower's log diverged: truncate by this epoch's end offset and fetch again.
    Diverging {
        epoch: u32,
        end_offset: u64,
    },
    NotLeader,
    /// Without leader epochs: the follower fetched past the leader's log end, and truncates to it
    /// (the only truncation by the leader before KIP-101: by offset, blind to what the entries are).
    OutOfRange {
        leader_leo: u64,
    },
}

#[derive(Clone, Debug)]
pub enum ConsumerFetchResult {
    /// `(offset, id)` of data entries below the high-water mark; `next` is the position after them.
    Records {
        records: Vec<(u64, u64)>,
        next: u64,
        hwm: u64,
    },
    NotLeader,
    OutOfRange,
}

#[derive(Clone, Debug)]
pub enum Msg {
    // ----- between brokers -----
    /// `incarnation`: drawn at every start, so the controller notices a broker that restarted
    /// between two heartbeats (Kafka's broker epoch).
    Heartbeat {
        controller_epoch: u64,
        controller: bool,
        incarnation: u64,
    },
    /// `commit: false` proposes states (brokers store them and answer `StateAck`); once a majority
    /// stored a state the controller sends it again with `commit: true`, and brokers act on it.
    /// The states are shared (`Rc`): a controller's broadcast of every state to every broker
    /// is one vector, not a copy per broker (at 100 brokers and 1,000 partitions the copies were
    /// a quarter of the run's instructions).
    LeaderAndIsr {
        controller_epoch: u64,
        states: std::rc::Rc<[(u32, PartState)]>,
        commit: bool,
    },
    StateAck {
        controller_epoch: u64,
        acks: Vec<(u32, u64)>,
    },
    StateQuery {
        controller_epoch: u64,
    },
    StateReport {
        controller_epoch: u64,
        states: Vec<(u32, PartState)>,
    },
    AlterIsr {
        partition: u32,
        leader_epoch: u32,
        version: u64,
        isr: Vec<u32>,
    },
    Fetch {
        partition: u32,
        leader_epoch: u32,
        offset: u64,
        last_epoch: u32,
        /// The follower's incarnation: after a restart it leaves the ISR until it catches up.
        incarnation: u64,
    },
    FetchResp {
        partition: u32,
        leader_epoch: u32,
        result: FetchResult,
    },
    // ----- producers -----
    /// A batch of messages for one partition, numbered `base_seq..` for an idempotent producer.
    /// The ids are shared with the producer's batch, which sends them again on a retry.
    Produce {
        req: u64,
        partition: u32,
        ids: std::rc::Rc<Vec<u64>>,
        producer: u64,
        base_seq: u32,
        acks: Acks,
    },
    ProduceResp {
        req: u64,
        error: Option<ProduceError>,
    },
    Metadata,
    /// `controller`: the newest controller the broker knows of, `(controller epoch, id)`: the
    /// group coordinator a consumer heartbeats (Kafka's FindCoordinator, folded in here).
    MetadataResp {
        leaders: Vec<(Option<u32>, u32)>,
        controller: Option<(u64, u32)>,
    },
    // ----- consumers -----
    /// A consumer's heartbeat to its group coordinator (the controller).
    Join {
        generation: u64,
    },
    /// A broker that is not the coordinator answers a `Join` with the newest controller it knows.
    NotCoordinator {
        controller: Option<(u64, u32)>,
    },
    Assignment {
        generation: u64,
        partitions: Vec<u32>,
    },
    ConsumerFetch {
        req: u64,
        partition: u32,
        offset: u64,
        max: u32,
    },
    ConsumerFetchResp {
        req: u64,
        partition: u32,
        result: ConsumerFetchResult,
    },
    OffsetFetch {
        req: u64,
        partition: u32,
    },
    OffsetFetchResp {
        req: u64,
        partition: u32,
        offset: Option<u64>,
    },
    /// `expect`: a compare-and-set on the latest commit (transactional, exactly-once); `ack`: answer
    /// once the commit entry is committed.
    OffsetCommit {
        req: u64,
        partition: u32,
        expect: Option<u64>,
        offset: u64,
        generation: u64,
        ack: bool,
    },
    OffsetCommitResp {
        req: u64,
        partition: u32,
        ok: bool,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Heartbeat { .. } => "heartbeat",
            Msg::LeaderAndIsr { .. } => "leader_and_isr",
            Msg::StateAck { .. } => "state_ack",
            Msg::StateQuery { .. } => "state_query",
            Msg::StateReport { .. } => "state_report",
            Msg::AlterIsr { .. } => "alter_isr",
            Msg::Fetch { .. } => "fetch",
            Msg::FetchResp { .. } => "fetch_resp",
            Msg::Produce { .. } => "produce",
            Msg::ProduceResp { .. } => "produce_resp",
            Msg::Metadata => "metadata",
            Msg::MetadataResp { .. } => "metadata_resp",
            Msg::Join { .. } => "join",
            Msg::NotCoordinator { .. } => "not_coordinator",
            Msg::Assignment { .. } => "assignment",
            Msg::ConsumerFetch { .. } => "consumer_fetch",
            Msg::ConsumerFetchResp { .. } => "consumer_fetch_resp",
            Msg::OffsetFetch { .. } => "offset_fetch",
            Msg::OffsetFetchResp { .. } => "offset_fetch_resp",
            Msg::OffsetCommit { .. } => "offset_commit",
            Msg::OffsetCommitResp { .. } => "offset_commit_resp",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::FetchResp { result: FetchResult::Entries { entries, .. }, .. } => 64 + 40 * run_len(entries),
            Msg::ConsumerFetchResp { result: ConsumerFetchResult::Records { records, .. }, .. } => {
                64 + 40 * records.len() as u64
            }
            Msg::LeaderAndIsr { states, .. } => 64 + 48 * states.len() as u64,
            Msg::StateReport { states, .. } => 64 + 48 * states.len() as u64,
            Msg::Produce { ids, .. } => 64 + 100 * ids.len() as u64,
            _ => 96,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Timer {
    /// Brokers: heartbeats, ISR checks, parked fetches, fetch retries, controller duties.
    Tick,
    ProduceTimeout {
        req: u64,
        attempt: u32,
    },
    ProduceRetry {
        req: u64,
    },
    MetadataRefresh,
    ConsumerHeartbeat,
    AutoCommit,
    PollTimeout {
        poll: u64,
    },
    Processed {
        poll: u64,
    },
    CommitTimeout {
        poll: u64,
    },
}

/// One change to a partition log, as written to disk.
#[derive(Clone, Debug)]
pub enum LogOp {
    Append {
        partition: u32,
        base: u64,
        /// Shared with the log (see [`Run`]).
        entries: Runs,
    },
    Truncate {
        partition: u32,
        to: u64,
    },
    /// A partition state this broker stored for a controller (acknowledged only once on disk, so
    /// a majority that stored a state still holds it after restarts). Boxed: rare beside the
    /// appends, and inline it made every op of every group commit 24 bytes larger.
    State {
        partition: u32,
        state: Box<PartState>,
    },
    /// A controller epoch this broker promised to (it refuses older controllers, also after a
    /// restart).
    ControllerEpoch(u64),
    /// A high-water-mark checkpoint (written only with `leader_epochs: false`).
    Hwm {
        partition: u32,
        hwm: u64,
    },
}

/// What happened, for the report's time axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    LeaderChange { leader: Option<u32>, epoch: u32 },
    IsrShrink { size: u32 },
    IsrExpand { size: u32 },
    Truncation { broker: u32, removed: u64 },
    ControllerChange { broker: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KEvent {
    /// True time, for the report's tables (a ledger: the broker's own clock may be off).
    pub at: Time,
    pub partition: u32,
    pub kind: EventKind,
}

#[derive(Clone, Debug)]
pub enum Record {
    /// A group commit of log changes (one fsync).
    Log(Vec<LogOp>),
    Event(KEvent),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel moves every message a few times (into the effects, the queue, the handler) and
    /// the disk keeps every group commit's ops to the end of the run: a message holds its largest
    /// variant, a fetch answer (two u32, a tag, two u64 and one inline run of 24 bytes beside a
    /// boxed list of the rare others: 64 bytes, from 72), and a disk op an append (a tag and u32,
    /// a u64 and the runs: 48 bytes, from 72 with the partition state inline); and a log entry, one per
    /// message for the whole run, 32 bytes (40 as a struct of an epoch and a payload).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn messages_and_disk_ops_stay_small() {
        assert_eq!(std::mem::size_of::<crate::log::Entry>(), 32);
        assert_eq!(std::mem::size_of::<crate::log::Run>(), 24);
        assert_eq!(std::mem::size_of::<crate::log::Runs>(), 32);
        assert_eq!(std::mem::size_of::<Msg>(), 64);
        assert_eq!(std::mem::size_of::<LogOp>(), 48);
    }
}
