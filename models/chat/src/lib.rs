//! # chat: a chat system (1:1 and group chats) over WebSocket servers, a registry and a KV store
//!
//! The notes' design (system 12): a sender posts a message to a chat server (`POST
//! /message/send -> message_id`, "sender --http--> chat service"); the chat server gives it an
//! id, stores it in the KV store (chat history), and forwards it to the chat servers that hold
//! the WebSocket connections of the conversation's members, which push it down those
//! connections; a member with no device online gets a push notification instead. A device that
//! (re)connects, or notices a gap, catches up from the KV store by its last message id
//! (multi-device sync). Presence servers show each user online or offline from heartbeats.
//! Built from the parts crate: [`parts::conn`] (chat servers holding connections, the devices
//! with heartbeats and reconnects), [`parts::registry`] (service discovery: which chat server
//! holds each device, ZooKeeper-style, with a lag), [`parts::kv`] (the history and the
//! per-conversation counters), [`parts::provider`] (the push-notification service, a third
//! party), [`parts::calls`] (every request: timeouts, retries) and [`parts::ids`] (the snowflake
//! layout of the known-bad ids).
//!
//! **Sending.** A chat server receiving a message for conversation `c` takes the conversation's
//! next sequence number from the KV store (an atomic `Incr` of `c`'s counter row: the
//! "per-conversation sequence" of the notes), writes the message under `(c, seq)` (synced before
//! the store acknowledges), answers the sender with the message's handle, and only then fans it
//! out. A message is **acknowledged** when its `send` ends `Ok`: from then on every device of
//! every member owes it. Fan-out: for each device of each member, the server looks the device up
//! in its copy of the registry ([`parts::registry::View`], `registry.lag` behind); devices on
//! this server get the message pushed at once, devices on another server get it through a
//! `Forward` to that server (the notes' "message sync queue" between chat servers, here a direct
//! server-to-server message over a connection: a crash loses what is in flight, which the
//! catch-up repairs). A member none of whose devices is registered gets a push notification
//! through the provider.
//!
//! **Message ids.** `ids: Sequence` (good): the message id *is* the conversation's sequence
//! number, so ids follow the order in which the store applied the increments, which respects
//! real time (a message acknowledged before another was sent has the smaller id). `ids:
//! ServerClock` (known-bad): a snowflake id from the chat server's own clock (41-bit ms, machine
//! = the server's index, 12-bit sequence): unique, "chronological" only as far as the servers'
//! clocks agree. With one server's clock ahead, a message sent later through another server gets
//! a smaller id and every receiver shows it before the earlier one. (The storage slot still comes
//! from the counter in both modes: the KV part has no range scans, so the history is addressed by
//! slot; in the known-bad mode the slot is only an address, and devices order by id.)
//!
//! **Devices and catch-up.** Each online user has `devices` devices (phone, laptop), each with its
//! own connection (connection ids `user * devices + d`). A device shows each conversation sorted
//! by message id. It catches up from the store ("by its last message id"): it reads the
//! conversation's counter and then every slot it has not seen (with `Sequence` ids the slots it
//! holds are known and skipped; with `ServerClock` ids it must read every slot past the last one
//! it scanned). It does so when it (re)connects, when a pushed message shows a gap (`Sequence`
//! only: seq `n + 2` after `n`), and every `sync_interval` (the safety net for a last message
//! missed). A slot read as absent is a *hole* (a server crashed between the increment and the
//! write, or the write is still in flight) and is read again at the next catch-up.
//!
//! **Push, poll or long poll.** `delivery` says how messages reach devices, `delivery_mix`
//! splits the devices of one run over modes (device `i` uses `delivery_mix[i % len]`). `Push`:
//! down the WebSocket connection, with a catch-up every `sync_interval` as the safety net.
//! `Poll`: nothing is pushed; the device reads the store every `poll_interval` (the notes'
//! "polling"). `LongPoll`: the device keeps one request waiting at the chat server holding its
//! session; the server answers it when a message for the device arrives (or with nothing after
//! `long_poll.timeout`), and the device sends the next one at once. Messages that arrive between
//! two polls wait in a per-device mailbox at the server (`long_poll.mailbox` at most); a poll
//! lost with a crashed server is sent again after `long_poll.timeout + sync_interval`, and the
//! catch-up repairs what the crash took. The report's `delivery_cost` table has a row per mode
//! in the run: the delivery path's messages (frames pushed and heartbeat pings; long polls and
//! their answers; catch-up requests) against the messages that arrived, and the
//! send-to-arrival delay.
//!
//! **Presence.** While a device is connected it sends a heartbeat to the presence server every
//! `presence.interval`; the presence server shows a user online from the first heartbeat of any
//! of its devices and offline when none has arrived for `presence.timeout` (swept every
//! `presence.sweep`; a sweep that finds the server itself stalled for a timeout since the
//! previous one, a process pause, restarts every user's timeout instead of showing them offline:
//! counter `presence_stalls`). The truth it is judged against: the devices' own connection logs (a user is
//! online while one of its devices holds a connection). Known-bad: a timeout shorter than the
//! heartbeat interval plus the network's tail: one late heartbeat shows a connected user
//! offline, then online again (a *flap*). Presence fan-out to friends (pub/sub) is not modelled.
//!
//! **Nodes** (servers in id order): `chat_servers` chat servers, the presence server, the
//! push-notification provider, the registry, the store's `kv.shards * kv.replicas` nodes. Clients
//! after them: each client node hosts the devices of the online users `u` with `u % clients ==
//! its index` and is also a sender. Op `send`: key = conversation (modulo the conversations),
//! sender = a member picked by the op's value; reply: the message handle `conv << 44 | id`.
//!
//! **Checks** (the history, the devices' logs, the presence server's log):
//! - `conversation_order`: every device shows each conversation's acknowledged messages in an
//!   order consistent with real time (a message acknowledged before another was sent is shown
//!   first). Fails with `ServerClock` ids under clock skew.
//! - `no_lost_messages`: every acknowledged message is, at the end, in every device of every
//!   online member (after a chat-server crash mid-delivery, through catch-up).
//! - `devices_converge`: every device of a user ends with the same messages in every
//!   conversation (unacknowledged ones included).
//! - `presence_flaps`: shown-offline periods of a user whose devices were connected throughout
//!   the period; passes at zero. The share of time the shown status is wrong is a measure
//!   (`presence_wrong_share`).
//!
//! **Simplified.** Devices read the store directly for catch-up (standing for the chat service's
//! `GET /message/{group_id}?after=id`, a pass-through); the registry and presence server are
//! single nodes; sends are not retried by clients (a send that timed out is unknown and not
//! judged); the sender's own devices receive its messages like any member's. Messages travel over
//! connections (`Transport::Connection`). Clocks: device logs use the client nodes' clocks and the
//! presence log the presence server's: scenarios skew only chat servers.

pub mod check;

use parts::balance::{HealthSpec, Policy};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::conn::{ClientEvent, ConnClient, ConnClientStats, ConnServer, ConnSpec, ServerEvent};
use parts::kv::{self, AsEntry, KvClient, KvResult, KvServer, KvSpec, KvStats, ReadFrom, ShardMap};
use parts::pool::PoolTimer;
use parts::provider::{self, Provider, ProviderSpec, ProviderStats};
use parts::registry::{self, Member, Registry, RegistrySpec, View, ViewStats};
use parts::sweep::Sweeps;
use parts::{conn, ids};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::rng::mix64;
use sim_core::{
    Actor, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Time, Topology,
    WriteId,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Bits of a handle that hold the message id (the conversation above them).
pub const ID_BITS: u32 = 44;
/// Conversations at most (20 bits of the handle).
pub const CONVERSATIONS_MAX: u32 = 1 << (64 - ID_BITS);
/// Slots per conversation at most (the KV part's 24-bit sub-keys, slot 0 is the counter).
pub const SLOTS_MAX: u64 = (1 << 24) - 1;

/// A message's handle: its conversation and its id.
pub fn handle(conv: u32, id: u64) -> u64 {
    debug_assert!(id < 1 << ID_BITS, "id {id} does not fit {ID_BITS} bits");
    (conv as u64) << ID_BITS | id
}

/// `(conversation, id)` of a handle.
pub fn split(h: u64) -> (u32, u64) {
    ((h >> ID_BITS) as u32, h & ((1 << ID_BITS) - 1))
}

fn counter_key(conv: u32) -> u64 {
    kv::tagged(conv as u64, 0)
}

fn slot_key(conv: u32, slot: u64) -> u64 {
    kv::tagged(conv as u64, slot)
}

/// Where message ids come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageIds {
    /// The conversation's sequence number from the KV store's counter (ordered per conversation).
    #[default]
    Sequence,
    /// A snowflake id from the chat server's own clock (known-bad under clock skew).
    ServerClock,
}

/// How messages reach an online device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Pushed down the device's WebSocket connection (catch-up repairs what is missed).
    #[default]
    Push,
    /// Not pushed: the device polls the store every `poll_interval` (the notes' "polling"; the
    /// connection stays for presence and discovery, and its heartbeats are not counted as
    /// delivery requests in this mode).
    Poll,
    /// Long polling: the device keeps one request waiting at its chat server, answered when a
    /// message for it arrives or after `long_poll.timeout` empty, and sends the next one at once.
    LongPoll,
}

impl Delivery {
    /// All modes, in the order of the `delivery_cost` table's rows.
    pub const ALL: [Delivery; 3] = [Delivery::Push, Delivery::Poll, Delivery::LongPoll];

    /// The mode's row in per-mode statistics.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The mode's name in measures and in the `delivery_cost` table.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Push => "push",
            Delivery::Poll => "poll",
            Delivery::LongPoll => "long_poll",
        }
    }
}

/// Long polling (`Delivery::LongPoll`).
///
/// ```ron
/// long_poll: (timeout: "20s", mailbox: 1000)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LongPollSpec {
    /// A waiting poll with nothing for it is answered empty after this long.
    pub timeout: Duration,
    /// Messages a chat server keeps per device between its polls (the oldest dropped beyond:
    /// the catch-up repairs them).
    pub mailbox: u32,
}

impl Default for LongPollSpec {
    fn default() -> Self {
        LongPollSpec { timeout: Duration::from_secs(20), mailbox: 1000 }
    }
}

/// The presence servers' heartbeats.
///
/// ```ron
/// presence: (interval: "1s", timeout: "3s", sweep: "100ms")
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceSpec {
    /// A connected device sends a heartbeat this often.
    pub interval: Duration,
    /// A user with no heartbeat for this long is shown offline.
    pub timeout: Duration,
    /// The presence server looks for silent users this often.
    pub sweep: Duration,
}

impl Default for PresenceSpec {
    fn default() -> Self {
        PresenceSpec {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            sweep: Duration::from_millis(100),
        }
    }
}

/// ```ron
/// config: (
///     chat_servers: 3, users: 200, online_users: 180, devices: 2,
///     direct: 150, groups: 20, group_size: 8, ids: Sequence,
///     conn: (heartbeat: (interval: "1s", timeout: "3s")), registry: (lag: "100ms"),
///     presence: (interval: "1s", timeout: "3s"), sync_interval: "5s",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub chat_servers: u32,
    pub users: u32,
    /// Users `0..online_users` have devices; the rest are offline throughout (push notifications).
    pub online_users: u32,
    /// Devices per online user.
    pub devices: u32,
    /// 1:1 conversations (conversations `0..direct`), each between two users.
    pub direct: u32,
    /// Group conversations (after the 1:1 ones), each of `group_size` users.
    pub groups: u32,
    pub group_size: u32,
    pub ids: MessageIds,
    /// How messages reach devices (every device, unless `delivery_mix` is given).
    pub delivery: Delivery,
    /// Devices split over modes: device `i` uses `delivery_mix[i % len]` (empty: `delivery`).
    pub delivery_mix: Vec<Delivery>,
    /// How often a `Poll` device polls the store.
    pub poll_interval: Duration,
    pub long_poll: LongPollSpec,
    pub conn: ConnSpec,
    pub registry: RegistrySpec,
    pub kv: KvSpec,
    /// Chat servers' and devices' calls to the store.
    pub kv_call: CallPolicy,
    /// Senders' calls to the chat servers.
    pub send: CallPolicy,
    pub presence: PresenceSpec,
    /// `Push` and `LongPoll` devices catch up on every conversation this often (besides on
    /// (re)connect and on a gap): the safety net for a last message missed.
    pub sync_interval: Duration,
    /// The push-notification service.
    pub push: ProviderSpec,
    pub push_call: CallPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chat_servers: 3,
            users: 200,
            online_users: 180,
            devices: 2,
            direct: 150,
            groups: 20,
            group_size: 8,
            ids: MessageIds::Sequence,
            delivery: Delivery::Push,
            delivery_mix: Vec::new(),
            poll_interval: Duration::from_secs(1),
            long_poll: LongPollSpec::default(),
            conn: ConnSpec::default(),
            registry: RegistrySpec::default(),
            kv: KvSpec::default(),
            kv_call: CallPolicy { timeout: Duration::from_millis(200), retries: 2, ..CallPolicy::default() },
            send: CallPolicy { timeout: Duration::from_secs(1), retries: 0, ..CallPolicy::default() },
            presence: PresenceSpec::default(),
            sync_interval: Duration::from_secs(5),
            push: ProviderSpec::default(),
            push_call: CallPolicy { timeout: Duration::from_secs(1), retries: 2, ..CallPolicy::default() },
        }
    }
}

impl Config {
    pub fn conversations(&self) -> u32 {
        self.direct + self.groups
    }

    /// How `device` receives messages.
    pub fn mode_of(&self, device: u64) -> Delivery {
        mode_of(self.delivery, &self.delivery_mix, device)
    }
}

/// Who is in which conversation: a pure function of the configuration (so the report rebuilds
/// it), drawn by hashing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    pub members: Vec<Vec<u64>>,
    /// User -> its conversations.
    pub convs_of: Vec<Vec<u32>>,
}

impl Directory {
    pub fn new(c: &Config) -> Directory {
        let users = c.users as u64;
        let mut members = Vec::with_capacity(c.conversations() as usize);
        for conv in 0..c.conversations() {
            let size = if conv < c.direct { 2 } else { c.group_size as usize };
            let mut m: Vec<u64> = Vec::with_capacity(size);
            let mut k = 0u64;
            while m.len() < size {
                let u = mix64((conv as u64) << 20 | k) % users;
                k += 1;
                if !m.contains(&u) {
                    m.push(u);
                }
            }
            m.sort_unstable();
            members.push(m);
        }
        let mut convs_of = vec![Vec::new(); c.users as usize];
        for (conv, m) in members.iter().enumerate() {
            for &u in m {
                convs_of[u as usize].push(conv as u32);
            }
        }
        Directory { members, convs_of }
    }
}

/// What the design shares between its nodes (read-only).
#[derive(Debug)]
pub struct Shared {
    pub dir: Directory,
    pub devices: u64,
    pub online: u64,
    pub ids: MessageIds,
    pub delivery: Delivery,
    pub delivery_mix: Vec<Delivery>,
    pub long_poll: LongPollSpec,
}

impl Shared {
    fn user_of(&self, device: u64) -> u64 {
        device / self.devices
    }

    fn mode_of(&self, device: u64) -> Delivery {
        mode_of(self.delivery, &self.delivery_mix, device)
    }
}

fn mode_of(delivery: Delivery, mix: &[Delivery], device: u64) -> Delivery {
    match mix.len() as u64 {
        0 => delivery,
        n => mix[(device % n) as usize],
    }
}

// ----- messages -----

#[derive(Clone, Debug)]
pub enum AppMsg {
    /// A sender's message for conversation `conv` (`POST /message/send`).
    Send { req: ReqId, conv: u32, sender: u64 },
    /// The answer: the message's handle, or `None` when it was not stored.
    SendResult { req: ReqId, handle: Option<u64> },
    /// Chat server to chat server: push `handle` to these devices you hold.
    Forward { handle: u64, devices: Vec<u64> },
    /// A connected device's heartbeat to the presence server.
    Beat { device: u64 },
    /// A device's long poll, held by its chat server until a message arrives or it times out.
    Poll { device: u64, poll: u64 },
    /// The answer to a long poll: the messages that arrived for the device (maybe none).
    PollResult { device: u64, poll: u64, handles: Vec<u64> },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Send { .. } => "chat_send",
            AppMsg::SendResult { .. } => "chat_send_result",
            AppMsg::Forward { .. } => "chat_forward",
            AppMsg::Beat { .. } => "presence_beat",
            AppMsg::Poll { .. } => "chat_long_poll",
            AppMsg::PollResult { .. } => "chat_long_poll_result",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Send { .. } | AppMsg::Forward { .. } => 512,
            AppMsg::PollResult { handles, .. } => 64 + 512 * handles.len() as u64,
            _ => 64,
        }
    }
}

/// A node's own timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// A client node's round of catch-ups (`Push` and `LongPoll` devices).
    Sync,
    /// A client node's round of polls (`Poll` devices).
    Poll,
    /// A client node's heartbeat round.
    Beat,
    /// The presence server's sweep.
    Sweep,
    /// A chat server answers a held long poll that nothing arrived for.
    PollExpire { device: u64, poll: u64 },
    /// A device re-sends a long poll whose answer never came (its server crashed).
    PollLost { device: u64, poll: u64 },
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Conn(conn::Msg), Registry(registry::Msg), Kv(kv::Msg), Prov(provider::Msg) }
}
parts::wire! {
    timers pub enum Timer {
        Conn(conn::Timer), Registry(registry::Timer), Call(CallTimer), Kv(kv::Timer), Pool(PoolTimer),
        Prov(provider::Timer), Tick(Tick),
    }
}

/// What the store's nodes and the registry write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Kv(kv::Entry),
    Registry(registry::Record),
}

impl From<kv::Entry> for Rec {
    fn from(e: kv::Entry) -> Rec {
        Rec::Kv(e)
    }
}

impl From<registry::Record> for Rec {
    fn from(r: registry::Record) -> Rec {
        Rec::Registry(r)
    }
}

impl AsEntry for Rec {
    fn as_entry(&self) -> Option<&kv::Entry> {
        match self {
            Rec::Kv(e) => Some(e),
            Rec::Registry(_) => None,
        }
    }
}

// ----- chat servers -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Seq,
    Store,
}

#[derive(Clone, Copy, Debug)]
struct SendJob {
    from: NodeId,
    req: ReqId,
    conv: u32,
    stage: Stage,
    id: u64,
}

/// What a chat server's calls carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SJob {
    Send(u64),
    Notify,
}

/// What a chat server did (per incarnation; summed in the report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChatStats {
    pub stored: u64,
    pub store_failures: u64,
    pub pushed_local: u64,
    pub forwarded: u64,
    pub forwards_received: u64,
    pub notifications: u64,
    pub notifications_ok: u64,
    /// Messages put in a long-polling device's mailbox, and those dropped from a full one.
    pub mailed: u64,
    pub mailbox_dropped: u64,
}

impl ChatStats {
    pub fn add(&mut self, o: &ChatStats) {
        self.stored += o.stored;
        self.store_failures += o.store_failures;
        self.pushed_local += o.pushed_local;
        self.forwarded += o.forwarded;
        self.forwards_received += o.forwards_received;
        self.notifications += o.notifications;
        self.notifications_ok += o.notifications_ok;
        self.mailed += o.mailed;
        self.mailbox_dropped += o.mailbox_dropped;
    }
}

pub struct ChatServer {
    index: u64,
    me: NodeId,
    server: ConnServer,
    member: Member,
    view: View,
    calls: Calls<Msg, SJob>,
    kv: KvClient,
    push: ServiceId,
    shared: Rc<Shared>,
    jobs: BTreeMap<u64, SendJob>,
    next: u64,
    /// The snowflake generator's last millisecond and sequence (`ServerClock` ids).
    last_ms: u64,
    seq: u64,
    /// Long polls waiting: device -> (its client node, poll).
    held: BTreeMap<u64, (NodeId, u64)>,
    /// Messages for long-polling devices not yet answered.
    mailbox: BTreeMap<u64, Vec<u64>>,
    pub stats: ChatStats,
}

impl ChatServer {
    fn store(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, op: kv::Op) {
        if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, SJob::Send(j)) {
            self.step(ctx, d, None);
        }
    }

    /// A snowflake id from this server's clock.
    fn snowflake(&mut self, now: Time) -> u64 {
        let ms = now.0 / 1_000_000;
        if ms == self.last_ms {
            self.seq += 1;
        } else {
            self.last_ms = ms;
            self.seq = 0;
        }
        ids::compose(ms, 0, self.index, self.seq)
    }

    fn on_send(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, conv: u32) {
        let j = self.next;
        self.next += 1;
        self.jobs.insert(j, SendJob { from, req, conv, stage: Stage::Seq, id: 0 });
        self.store(ctx, j, kv::Op::Incr { key: counter_key(conv), by: 1 });
    }

    fn answer(&mut self, ctx: &mut Ctx<'_, Node>, job: SendJob, handle: Option<u64>) {
        ctx.send(job.from, Msg::from(AppMsg::SendResult { req: job.req, handle }));
    }

    fn step(&mut self, ctx: &mut Ctx<'_, Node>, d: Done<SJob>, result: Option<KvResult>) {
        let SJob::Send(j) = d.data else {
            if d.outcome == CallOutcome::Ok {
                self.stats.notifications_ok += 1;
            }
            return;
        };
        let Some(mut job) = self.jobs.remove(&j) else { return };
        match (job.stage, d.outcome, result) {
            (Stage::Seq, CallOutcome::Ok, Some(KvResult::Written { value, .. })) if (value as u64) <= SLOTS_MAX => {
                let slot = value as u64;
                job.id = match self.shared.ids {
                    MessageIds::Sequence => slot,
                    MessageIds::ServerClock => self.snowflake(ctx.now()),
                };
                job.stage = Stage::Store;
                self.jobs.insert(j, job);
                self.store(ctx, j, kv::Op::Put { key: slot_key(job.conv, slot), value: job.id as i64, ttl: None });
            }
            (Stage::Store, CallOutcome::Ok, Some(KvResult::Written { .. })) => {
                self.stats.stored += 1;
                let h = handle(job.conv, job.id);
                self.answer(ctx, job, Some(h));
                self.fan_out(ctx, h);
            }
            _ => {
                self.stats.store_failures += 1;
                ctx.count_in("chat", "store_failures", 1);
                self.answer(ctx, job, None);
            }
        }
    }

    /// Pushes `h` to every registered device of every member; notifies members with none.
    fn fan_out(&mut self, ctx: &mut Ctx<'_, Node>, h: u64) {
        let (conv, _) = split(h);
        let shared = self.shared.clone();
        let mut targets: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
        for &m in &shared.dir.members[conv as usize] {
            let mut found = false;
            if m < shared.online {
                for d in 0..shared.devices {
                    let dev = m * shared.devices + d;
                    if let Some(s) = self.view.lookup(ctx, dev) {
                        found = true;
                        targets.entry(s).or_default().push(dev);
                    }
                }
            }
            if !found {
                self.stats.notifications += 1;
                ctx.count_in("chat", "notifications", 1);
                let make = |id| Msg::from(provider::Msg::Request { id, key: h });
                let _ = self.calls.call(ctx, self.push, m, make, SJob::Notify);
            }
        }
        for devices in targets.values_mut() {
            devices.retain(|&d| shared.mode_of(d) != Delivery::Poll);
        }
        for (s, devices) in targets {
            if devices.is_empty() {
                continue;
            }
            if s == self.me {
                for dev in devices {
                    self.stats.pushed_local += 1;
                    self.deliver(ctx, dev, h);
                }
            } else {
                self.stats.forwarded += 1;
                ctx.send(s, Msg::from(AppMsg::Forward { handle: h, devices }));
            }
        }
    }

    /// Hands `h` to a device this server holds: down its connection, or to its long poll.
    fn deliver(&mut self, ctx: &mut Ctx<'_, Node>, device: u64, h: u64) {
        if self.shared.mode_of(device) != Delivery::LongPoll {
            self.server.push(ctx, device, h);
            return;
        }
        self.stats.mailed += 1;
        let cap = self.shared.long_poll.mailbox as usize;
        let mail = self.mailbox.entry(device).or_default();
        if mail.len() >= cap {
            mail.remove(0);
            self.stats.mailbox_dropped += 1;
        }
        mail.push(h);
        if let Some((from, poll)) = self.held.remove(&device) {
            self.answer_poll(ctx, device, from, poll);
        }
    }

    fn answer_poll(&mut self, ctx: &mut Ctx<'_, Node>, device: u64, from: NodeId, poll: u64) {
        let handles = self.mailbox.remove(&device).unwrap_or_default();
        ctx.send(from, Msg::from(AppMsg::PollResult { device, poll, handles }));
    }

    /// A long poll: answered at once if mail waits, else held until mail or the timeout.
    fn on_poll(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, device: u64, poll: u64) {
        if self.mailbox.get(&device).is_some_and(|m| !m.is_empty()) {
            self.answer_poll(ctx, device, from, poll);
            return;
        }
        self.held.insert(device, (from, poll));
        ctx.set_timer(self.shared.long_poll.timeout, Timer::Tick(Tick::PollExpire { device, poll }));
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_, Node>, ev: ServerEvent) {
        match ev {
            ServerEvent::Opened { user, epoch, .. } => self.member.register(ctx, user, epoch),
            ServerEvent::Closed { user, epoch, .. } => self.member.unregister(ctx, user, epoch),
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Send { req, conv, .. }) => self.on_send(ctx, from, req, conv),
            Msg::App(AppMsg::Forward { handle, devices }) => {
                self.stats.forwards_received += 1;
                for dev in devices {
                    self.deliver(ctx, dev, handle);
                }
            }
            Msg::App(AppMsg::Poll { device, poll }) => self.on_poll(ctx, from, device, poll),
            Msg::App(_) => {}
            Msg::Conn(m) => {
                if let Some(ev) = self.server.on_msg(ctx, from, m) {
                    self.on_event(ctx, ev);
                }
            }
            Msg::Registry(m) => {
                self.view.on_msg(&m);
                if self.member.on_msg(ctx, &m) {
                    let held: Vec<(u64, u64)> = self.server.connections().map(|(u, _, e)| (u, e)).collect();
                    for (user, epoch) in held {
                        self.member.register(ctx, user, epoch);
                    }
                }
            }
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.step(ctx, d, Some(r));
                }
            }
            Msg::Kv(_) => {}
            Msg::Prov(provider::Msg::Response { id, status, .. }) => {
                if let Some(d) = self.calls.reply(ctx, id, status.answer()) {
                    self.step(ctx, d, None);
                }
            }
            Msg::Prov(_) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Conn(t) => {
                for ev in self.server.on_timer(ctx, t) {
                    self.on_event(ctx, ev);
                }
            }
            Timer::Registry(t) => self.member.on_timer(ctx, t),
            Timer::Call(t) => {
                if let Some(d) = self.calls.on_timer(ctx, t) {
                    self.step(ctx, d, None);
                }
            }
            Timer::Tick(Tick::PollExpire { device, poll }) => {
                if let Some(&(from, held)) = self.held.get(&device)
                    && held == poll
                {
                    self.held.remove(&device);
                    self.answer_poll(ctx, device, from, poll);
                }
            }
            _ => {}
        }
    }
}

// ----- devices (client nodes) -----

/// One device's copy of one conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvLog {
    /// Message ids held (shown sorted).
    pub ids: BTreeSet<u64>,
    /// When each id first arrived (true time: a ledger), in arrival order.
    pub arrived: Vec<(u64, Time)>,
    /// Slots up to this one have been read or asked for.
    scanned: u64,
    /// Slots read as absent, read again at the next catch-up.
    holes: BTreeSet<u64>,
    /// Slot reads in flight.
    reading: BTreeSet<u64>,
    syncing: bool,
}

/// What a client node's calls carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CJob {
    Send(OpId),
    Counter { device: u64, conv: u32 },
    Slot { device: u64, conv: u32, slot: u64 },
}

/// What the devices of a client node did (kept per delivery mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Messages that reached the device by push or in a long poll's answer (duplicates included).
    pub pushed: u64,
    pub duplicate_pushes: u64,
    pub gaps: u64,
    pub syncs: u64,
    pub slot_reads: u64,
    pub caught_up: u64,
    pub holes: u64,
    pub beats: u64,
    /// Long polls sent, and their answers received (empty ones included).
    pub polls: u64,
    pub poll_answers: u64,
    pub empty_answers: u64,
}

impl DeviceStats {
    pub fn add(&mut self, o: &DeviceStats) {
        self.pushed += o.pushed;
        self.duplicate_pushes += o.duplicate_pushes;
        self.gaps += o.gaps;
        self.syncs += o.syncs;
        self.slot_reads += o.slot_reads;
        self.caught_up += o.caught_up;
        self.holes += o.holes;
        self.beats += o.beats;
        self.polls += o.polls;
        self.poll_answers += o.poll_answers;
        self.empty_answers += o.empty_answers;
    }
}

pub struct ClientNode {
    devices: ConnClient,
    /// The devices of this node, in order.
    ids: Vec<u64>,
    calls: Calls<Msg, CJob>,
    chat: ServiceId,
    kv: KvClient,
    presence: NodeId,
    shared: Rc<Shared>,
    sync_interval: Duration,
    poll_interval: Duration,
    beat_interval: Duration,
    /// Device -> conversation -> its copy.
    pub logs: BTreeMap<u64, BTreeMap<u32, ConvLog>>,
    /// Long-polling device -> its outstanding poll.
    polls: BTreeMap<u64, u64>,
    next_poll: u64,
    /// Per delivery mode (`Delivery::index`).
    pub stats: [DeviceStats; 3],
}

impl ClientNode {
    fn stat(&mut self, device: u64) -> &mut DeviceStats {
        &mut self.stats[self.shared.mode_of(device).index()]
    }

    /// Sends `device`'s next long poll to the server holding its session.
    fn long_poll(&mut self, ctx: &mut Ctx<'_, Node>, device: u64) {
        let Some(server) = self.devices.connected_to(device) else {
            self.polls.remove(&device);
            return;
        };
        let poll = self.next_poll;
        self.next_poll += 1;
        self.polls.insert(device, poll);
        self.stat(device).polls += 1;
        ctx.send(server, Msg::from(AppMsg::Poll { device, poll }));
        let lost = self.shared.long_poll.timeout + self.sync_interval;
        ctx.set_timer(lost, Timer::Tick(Tick::PollLost { device, poll }));
    }

    fn on_poll_result(&mut self, ctx: &mut Ctx<'_, Node>, device: u64, poll: u64, handles: Vec<u64>) {
        if self.polls.get(&device) != Some(&poll) {
            return; // an answer to a poll given up
        }
        let st = self.stat(device);
        st.poll_answers += 1;
        st.empty_answers += handles.is_empty() as u64;
        for h in handles {
            self.on_delivered(ctx, device, h);
        }
        self.long_poll(ctx, device);
    }

    /// The devices of this node in `mode`'s round (`Sync`: push and long poll; `Poll`: poll).
    fn round(&mut self, ctx: &mut Ctx<'_, Node>, polling: bool) {
        for i in 0..self.ids.len() {
            let device = self.ids[i];
            let is_poll = self.shared.mode_of(device) == Delivery::Poll;
            if is_poll == polling && self.devices.connected_to(device).is_some() {
                self.sync_device(ctx, device);
            }
        }
    }

    fn conv_log(&mut self, device: u64, conv: u32) -> &mut ConvLog {
        self.logs.entry(device).or_default().entry(conv).or_default()
    }

    fn sync(&mut self, ctx: &mut Ctx<'_, Node>, device: u64, conv: u32) {
        let log = self.conv_log(device, conv);
        if log.syncing {
            return;
        }
        log.syncing = true;
        self.stat(device).syncs += 1;
        let job = CJob::Counter { device, conv };
        if let Err(d) =
            self.kv.call(&mut self.calls, ctx, kv::Op::Get { key: counter_key(conv) }, ReadFrom::Primary, job)
        {
            self.ended(ctx, d, None);
        }
    }

    fn sync_device(&mut self, ctx: &mut Ctx<'_, Node>, device: u64) {
        let user = self.shared.user_of(device) as usize;
        let shared = self.shared.clone();
        for &conv in &shared.dir.convs_of[user] {
            self.sync(ctx, device, conv);
        }
    }

    /// The counter is `n`: read every slot not held, not in flight, up to it.
    fn read_slots(&mut self, ctx: &mut Ctx<'_, Node>, device: u64, conv: u32, n: u64) {
        let sequence = self.shared.ids == MessageIds::Sequence;
        let log = self.conv_log(device, conv);
        log.syncing = false;
        let mut want: Vec<u64> = std::mem::take(&mut log.holes).into_iter().collect();
        want.extend(log.scanned + 1..=n.min(SLOTS_MAX));
        log.scanned = log.scanned.max(n.min(SLOTS_MAX));
        let want: Vec<u64> =
            want.into_iter().filter(|s| !(log.reading.contains(s) || sequence && log.ids.contains(s))).collect();
        for slot in want {
            self.conv_log(device, conv).reading.insert(slot);
            self.stat(device).slot_reads += 1;
            let job = CJob::Slot { device, conv, slot };
            let op = kv::Op::Get { key: slot_key(conv, slot) };
            if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, job) {
                self.ended(ctx, d, None);
            }
        }
    }

    fn ended(&mut self, ctx: &mut Ctx<'_, Node>, d: Done<CJob>, result: Option<KvResult>) {
        let ok = d.outcome == CallOutcome::Ok;
        match (d.data, result) {
            (CJob::Send(op), _) => ctx.complete(op, d.outcome.outcome(), Reply::None),
            (CJob::Counter { device, conv }, Some(KvResult::Found { value, .. })) if ok => {
                self.read_slots(ctx, device, conv, value.max(0) as u64)
            }
            (CJob::Counter { device, conv }, Some(KvResult::NotFound)) if ok => self.read_slots(ctx, device, conv, 0),
            (CJob::Counter { device, conv }, _) => self.conv_log(device, conv).syncing = false,
            (CJob::Slot { device, conv, slot }, r) => {
                let at = ctx.ledger_time();
                let log = self.conv_log(device, conv);
                log.reading.remove(&slot);
                match r {
                    Some(KvResult::Found { value, .. }) if ok => {
                        if log.ids.insert(value as u64) {
                            log.arrived.push((value as u64, at));
                            self.stat(device).caught_up += 1;
                        }
                    }
                    _ => {
                        log.holes.insert(slot);
                        self.stat(device).holes += 1;
                    }
                }
            }
        }
    }

    fn on_delivered(&mut self, ctx: &mut Ctx<'_, Node>, device: u64, h: u64) {
        let (conv, id) = split(h);
        self.stat(device).pushed += 1;
        let sequence = self.shared.ids == MessageIds::Sequence;
        let at = ctx.ledger_time();
        let log = self.conv_log(device, conv);
        if !log.ids.insert(id) {
            self.stat(device).duplicate_pushes += 1;
            return;
        }
        log.arrived.push((id, at));
        // A gap: with sequence ids, `id - 1` must be here (or on its way) unless it is a hole.
        if sequence && id > 1 && !log.ids.contains(&(id - 1)) && !log.reading.contains(&(id - 1)) {
            self.stat(device).gaps += 1;
            self.sync(ctx, device, conv);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Conn(m) => match self.devices.on_msg(ctx, from, m) {
                Some(ClientEvent::Delivered { user: device, msg, .. }) => self.on_delivered(ctx, device, msg),
                Some(ClientEvent::Connected { user: device, .. }) => {
                    self.sync_device(ctx, device);
                    if self.shared.mode_of(device) == Delivery::LongPoll {
                        self.long_poll(ctx, device);
                    }
                }
                _ => {}
            },
            Msg::App(AppMsg::PollResult { device, poll, handles }) => self.on_poll_result(ctx, device, poll, handles),
            Msg::App(AppMsg::SendResult { req, handle }) => {
                let answer = if handle.is_some() { Answer::Ok } else { Answer::Fatal };
                if let Some(d) = self.calls.reply(ctx, req, answer) {
                    let CJob::Send(op) = d.data else { return };
                    match (d.outcome, handle) {
                        (CallOutcome::Ok, Some(h)) => ctx.complete(op, Outcome::Ok, Reply::Value(h)),
                        (outcome, _) => ctx.complete(op, outcome.outcome(), Reply::None),
                    }
                }
            }
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.ended(ctx, d, Some(r));
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Conn(t) => {
                self.devices.on_timer(ctx, t);
            }
            Timer::Call(t) => {
                if let Some(d) = self.calls.on_timer(ctx, t) {
                    self.ended(ctx, d, None);
                }
            }
            Timer::Tick(Tick::Sync) => {
                self.round(ctx, false);
                ctx.set_timer(self.sync_interval, Timer::Tick(Tick::Sync));
            }
            Timer::Tick(Tick::Poll) => {
                self.round(ctx, true);
                ctx.set_timer(self.poll_interval, Timer::Tick(Tick::Poll));
            }
            Timer::Tick(Tick::PollLost { device, poll }) if self.polls.get(&device) == Some(&poll) => {
                self.long_poll(ctx, device);
            }
            Timer::Tick(Tick::Beat) => {
                for i in 0..self.ids.len() {
                    let device = self.ids[i];
                    if self.devices.connected_to(device).is_some() {
                        self.stat(device).beats += 1;
                        ctx.send(self.presence, Msg::from(AppMsg::Beat { device }));
                    }
                }
                ctx.set_timer(self.beat_interval, Timer::Tick(Tick::Beat));
            }
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let convs = self.shared.dir.members.len() as u64;
        let conv = (op.key % convs) as u32;
        let m = &self.shared.dir.members[conv as usize];
        let sender = m[(mix64(op.value) % m.len() as u64) as usize];
        let make = |req| Msg::from(AppMsg::Send { req, conv, sender });
        if let Err(d) = self.calls.call(ctx, self.chat, conv as u64, make, CJob::Send(op.id)) {
            self.ended(ctx, d, None);
        }
    }

    /// The devices of this node.
    pub fn device_ids(&self) -> &[u64] {
        &self.ids
    }

    /// The connection log of this node's devices.
    pub fn sessions(&self) -> &[conn::Session] {
        self.devices.sessions()
    }
}

// ----- presence -----

/// The presence server: users' shown status from heartbeats, and its log of changes.
pub struct PresenceServer {
    spec: PresenceSpec,
    devices: u64,
    /// User -> (last heartbeat on the server's monotonic clock, shown online).
    users: BTreeMap<u64, (Time, bool)>,
    /// Its sweeps, to tell its own stall from its users' silence.
    sweeps: Sweeps,
    /// Every change of a shown status: (user, true time, online). The world's record (what users were
    /// shown), kept across the server's crashes: the factory hands the same log to each
    /// incarnation, so the flaps shown before a crash still count in `presence_flaps`.
    pub log: Rc<RefCell<Vec<(u64, Time, bool)>>>,
}

impl PresenceServer {
    /// A heartbeat at `now` on this server's monotonic clock (the timeout measures elapsed time: a
    /// wall clock stepped 10 s forward showed every user offline at once; `at`: true time, for the
    /// log).
    fn on_beat(&mut self, now: Time, at: Time, device: u64) {
        let user = device / self.devices;
        let u = self.users.entry(user).or_insert((now, false));
        u.0 = now;
        if !u.1 {
            u.1 = true;
            self.log.borrow_mut().push((user, at, true));
        }
    }

    /// Shows offline the users silent for `timeout`, unless the server itself was stalled that
    /// long since its previous sweep (a process pause): then it cannot tell their silence from its
    /// own, and gives every user a new `timeout` from now ([`Sweeps`]). Returns whether it was
    /// stalled.
    fn sweep(&mut self, now: Time, at: Time) -> bool {
        if self.sweeps.stalled(now, self.spec.timeout) {
            for u in self.users.values_mut() {
                u.0 = u.0.max(now);
            }
            return true;
        }
        for (&user, u) in self.users.iter_mut() {
            if u.1 && now.since(u.0) >= self.spec.timeout {
                u.1 = false;
                self.log.borrow_mut().push((user, at, false));
            }
        }
        false
    }
}

// ----- nodes -----

/// The push-notification service (a third party) and what it accepted.
pub struct PushGateway {
    pub provider: Provider,
    pub delivered: u64,
}

pub enum Node {
    Chat(Box<ChatServer>),
    Presence(Box<PresenceServer>),
    Push(Box<PushGateway>),
    Registry(Box<Registry>),
    Kv(Box<KvServer>),
    Client(Box<ClientNode>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Chat(c) => {
                c.server.start(ctx);
                c.member.start(ctx);
                c.view.start(ctx);
            }
            Node::Presence(p) => {
                ctx.set_timer(p.spec.sweep, Timer::Tick(Tick::Sweep));
            }
            Node::Registry(r) => r.start(ctx, |r| match r {
                Rec::Registry(r) => Some(r),
                Rec::Kv(_) => None,
            }),
            Node::Kv(s) => s.on_start(ctx),
            Node::Client(c) => {
                c.devices.start(ctx);
                let beat = Duration(ctx.rng().below(c.beat_interval.0.max(1)));
                ctx.set_timer(beat, Timer::Tick(Tick::Beat));
                // A round timer for each kind of device the node has.
                let modes: BTreeSet<bool> = c.ids.iter().map(|&d| c.shared.mode_of(d) == Delivery::Poll).collect();
                for polling in modes {
                    let (every, tick) =
                        if polling { (c.poll_interval, Tick::Poll) } else { (c.sync_interval, Tick::Sync) };
                    let first = Duration(ctx.rng().below(every.0.max(1)));
                    ctx.set_timer(first, Timer::Tick(tick));
                }
            }
            Node::Push(_) => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Chat(c), m) => c.on_msg(ctx, from, m),
            (Node::Presence(p), Msg::App(AppMsg::Beat { device })) => {
                p.on_beat(ctx.monotonic(), ctx.ledger_time(), device)
            }
            (Node::Push(g), Msg::Prov(m)) => g.provider.on_msg(ctx, from, m),
            (Node::Registry(r), Msg::Registry(m)) => r.on_msg(ctx, from, m),
            (Node::Kv(s), Msg::Kv(m)) => s.on_msg(ctx, from, m),
            (Node::Client(c), m) => c.on_msg(ctx, from, m),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Chat(c), t) => c.on_timer(ctx, t),
            (Node::Presence(p), Timer::Tick(Tick::Sweep)) => {
                if p.sweep(ctx.monotonic(), ctx.ledger_time()) {
                    ctx.count("presence_stalls", 1);
                }
                ctx.set_timer(p.spec.sweep, Timer::Tick(Tick::Sweep));
            }
            (Node::Push(g), Timer::Prov(t)) => {
                if let Some((_, provider::Status::Ok)) = g.provider.answer(ctx, t) {
                    g.delivered += 1;
                }
            }
            (Node::Registry(r), Timer::Registry(t)) => r.on_timer(ctx, t),
            (Node::Kv(s), Timer::Kv(t)) => s.on_timer(ctx, t),
            (Node::Kv(s), Timer::Pool(t)) => s.on_pool_timer(ctx, t),
            (Node::Client(c), t) => c.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        if let Node::Kv(s) = self {
            s.on_persisted(ctx, w);
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

/// Which server does what.
pub struct Layout {
    pub chat: Vec<NodeId>,
    pub presence: NodeId,
    pub push: NodeId,
    pub registry: NodeId,
    pub kv: Vec<NodeId>,
}

impl Layout {
    fn fixed(c: &Config) -> usize {
        c.chat_servers as usize + 3 + c.kv.nodes()
    }

    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let n = c.chat_servers as usize;
        Layout {
            chat: s[..n].to_vec(),
            presence: s[n],
            push: s[n + 1],
            registry: s[n + 2],
            kv: s[n + 3..n + 3 + c.kv.nodes()].to_vec(),
        }
    }
}

pub struct Chat;

impl Model for Chat {
    const NAME: &'static str = "chat";
    const ABOUT: &'static str = "chat: WebSocket chat servers, a registry, per-conversation ids, history in a KV store, multi-device catch-up, presence heartbeats, push notifications";
    const OP_KINDS: &'static [&'static str] = &["send"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] =
        &["conversation_order", "no_lost_messages", "devices_converge", "presence_flaps"];
    const PROGRESS_CHECKS: &'static [&'static str] = &["no_lost_messages"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if c.chat_servers == 0 || c.chat_servers > ids::FIELD_MAX + 1 {
            e.push(("config.chat_servers".into(), format!("must be within [1, 32], got {}", c.chat_servers)));
        }
        if c.users < 2 || c.users > 1_000_000 {
            e.push(("config.users".into(), format!("must be within [2, 1000000], got {}", c.users)));
        }
        if c.online_users > c.users {
            e.push((
                "config.online_users".into(),
                format!("must be at most users ({}), got {}", c.users, c.online_users),
            ));
        }
        if c.devices == 0 || c.devices > 16 {
            e.push(("config.devices".into(), format!("must be within [1, 16], got {}", c.devices)));
        }
        if c.conversations() == 0 || c.conversations() >= CONVERSATIONS_MAX {
            e.push((
                "config.direct".into(),
                format!("direct + groups must be within [1, {}), got {}", CONVERSATIONS_MAX, c.conversations()),
            ));
        }
        if c.groups > 0 && (c.group_size < 2 || c.group_size > c.users) {
            e.push((
                "config.group_size".into(),
                format!("must be within [2, users ({})], got {}", c.users, c.group_size),
            ));
        }
        for (name, d) in [
            ("sync_interval", c.sync_interval),
            ("poll_interval", c.poll_interval),
            ("long_poll.timeout", c.long_poll.timeout),
            ("presence.interval", c.presence.interval),
            ("presence.sweep", c.presence.sweep),
        ] {
            if d.0 == 0 {
                e.push((format!("config.{name}"), "must be positive".into()));
            }
        }
        if c.long_poll.mailbox == 0 {
            e.push(("config.long_poll.mailbox".into(), "must be at least 1".into()));
        }
        if c.presence.timeout <= c.presence.sweep {
            e.push(("config.presence.timeout".into(), format!("must exceed presence.sweep ({})", c.presence.sweep)));
        }
        e.extend(c.conn.validate("config.conn"));
        e.extend(c.registry.validate("config.registry"));
        e.extend(c.kv.validate("config.kv"));
        e.extend(c.kv_call.validate("config.kv_call"));
        e.extend(c.send.validate("config.send"));
        e.extend(c.push.validate("config.push"));
        e.extend(c.push_call.validate("config.push_call"));
        let fixed = Layout::fixed(c);
        if topo.servers.len() != fixed {
            e.push((
                "topology.servers".into(),
                format!(
                    "must be {fixed}: {} chat servers + presence + push provider + registry + {} store nodes, got {}",
                    c.chat_servers,
                    c.kv.nodes(),
                    topo.servers.len()
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "the devices and senders need at least one client".into()));
        }
        e
    }

    fn validate_schedule(c: &Config, run_end: Duration) -> Vec<(String, String)> {
        // Snowflake ids hold the server's clock in ms; a handle keeps 44 bits of id (70 minutes).
        if c.ids == MessageIds::ServerClock && run_end > Duration::from_secs(3600) {
            return vec![("config.ids".into(), format!("ServerClock ids need a run of at most 1h, got {run_end}"))];
        }
        Vec::new()
    }

    /// Per online device: its connection (device, sessions, the server's and the registry's
    /// entries, the checkers' copies), an entry in every chat server's view and its presence,
    /// ~2.4 kB with 10 chat servers, measured; its copy of each of its user's conversations.
    /// Per message: the store's two writes (the counter and the slot: each in the primary's log,
    /// its idempotency table and every replica's disk), a copy in every online device of every
    /// member (an id in a set and an arrival) and the checkers' records. Events: per device a
    /// heartbeat (timer, ping, pong) and a presence beat per interval, a catch-up per
    /// conversation per `sync_interval` (or per `poll_interval` when polling); per message a
    /// request, the store's calls, the fan-out and a frame per device. Measured with `simctl
    /// bench scenario` (debug): chat_perf, 63 MB used (estimate 64 MB); at 4x its rate, 174 MB
    /// (209 MB); 15 s of it, 32.5 MB (29 MB); with 4x the users, 58 MB (55 MB).
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let sends = load.of("send", Self::OP_KINDS);
        let devices = c.online_users as f64 * c.devices as f64;
        let online_share = c.online_users as f64 / c.users.max(1) as f64;
        let memberships = 2.0 * c.direct as f64 + c.group_size as f64 * c.groups as f64;
        let members = memberships / c.conversations().max(1) as f64;
        let copies = memberships * online_share * c.devices as f64;
        let per_send = members * online_share * c.devices as f64;
        let deliveries = sends * per_send;
        let views = c.chat_servers as f64 * 64.0;
        let secs = |d: Duration| d.as_secs_f64().max(1e-3);
        let polling = match (c.delivery_mix.len(), c.delivery) {
            (0, Delivery::Poll) => 1.0,
            (0, _) => 0.0,
            (n, _) => c.delivery_mix.iter().filter(|d| **d == Delivery::Poll).count() as f64 / n as f64,
        };
        let beats = devices * load.run_s * (3.0 / secs(c.conn.heartbeat.interval) + 2.0 / secs(c.presence.interval));
        let catch_ups =
            copies * load.run_s * ((1.0 - polling) / secs(c.sync_interval) + polling / secs(c.poll_interval));
        sim_core::cost::Footprint {
            events: beats + catch_ups * 4.0 + sends * 15.0 + deliveries * 2.0,
            queued: devices * 3.0 + load.in_flight * 10.0,
            ..Default::default()
        }
        .part(
            format!(
                "devices: {devices} online x {:.0} B (connection, views, presence)",
                1750.0 + views,
                devices = count(devices)
            ),
            devices * (1750.0 + views),
        )
        .part(format!("conversation copies: {copies} x 200 B", copies = count(copies)), copies * 200.0)
        .part(
            format!("the store: {sends} messages x 2 writes", sends = count(sends)),
            c.kv.footprint_of_writes(sends * 2.0),
        )
        .part(
            format!("deliveries: {sends} messages x {per_send:.1} devices x 80 B", sends = count(sends)),
            deliveries * 80.0,
        )
        .part(format!("the checkers' records: {sends} messages x 400 B", sends = count(sends)), sends * 400.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        let map = ShardMap::new(&c.kv, &l.kv);
        let presence_log: Rc<RefCell<Vec<(u64, Time, bool)>>> = Rc::default();
        let shared = Rc::new(Shared {
            dir: Directory::new(c),
            devices: c.devices as u64,
            online: c.online_users as u64,
            ids: c.ids,
            delivery: c.delivery,
            delivery_mix: c.delivery_mix.clone(),
            long_poll: c.long_poll.clone(),
        });
        let c = c.clone();
        let clients = topo.clients.clone();
        Box::new(move |n| {
            if let Some(k) = clients.iter().position(|&x| x == n) {
                let (k, per) = (k as u64, shared.devices);
                let ids: Vec<u64> = (0..shared.online)
                    .filter(|u| u % clients.len() as u64 == k)
                    .flat_map(|u| (0..per).map(move |d| u * per + d))
                    .collect();
                let mut calls = Calls::new();
                let chat = calls.add("send_calls", &l.chat, c.send.clone(), Policy::RoundRobin, HealthSpec::default());
                let kv = KvClient::register(&mut calls, "device_kv_calls", &map, &c.kv_call);
                return Node::Client(Box::new(ClientNode {
                    devices: ConnClient::new("device", c.conn.clone(), &ids, &l.chat),
                    ids,
                    calls,
                    chat,
                    kv,
                    presence: l.presence,
                    shared: shared.clone(),
                    sync_interval: c.sync_interval,
                    poll_interval: c.poll_interval,
                    beat_interval: c.presence.interval,
                    logs: BTreeMap::new(),
                    polls: BTreeMap::new(),
                    next_poll: 0,
                    stats: [DeviceStats::default(); 3],
                }));
            }
            if let Some(i) = l.chat.iter().position(|&x| x == n) {
                let mut calls = Calls::new();
                let kv = KvClient::register(&mut calls, "chat_kv_calls", &map, &c.kv_call);
                let push =
                    calls.add("push_calls", &[l.push], c.push_call.clone(), Policy::RoundRobin, HealthSpec::default());
                return Node::Chat(Box::new(ChatServer {
                    index: i as u64,
                    me: n,
                    server: ConnServer::new("conn", c.conn.clone()),
                    member: Member::new(l.registry, &c.registry),
                    view: View::new("chat", l.registry),
                    calls,
                    kv,
                    push,
                    shared: shared.clone(),
                    jobs: BTreeMap::new(),
                    next: 0,
                    last_ms: u64::MAX,
                    seq: 0,
                    held: BTreeMap::new(),
                    mailbox: BTreeMap::new(),
                    stats: ChatStats::default(),
                }));
            }
            if n == l.presence {
                return Node::Presence(Box::new(PresenceServer {
                    spec: c.presence.clone(),
                    devices: c.devices as u64,
                    users: BTreeMap::new(),
                    sweeps: Sweeps::default(),
                    log: presence_log.clone(),
                }));
            }
            if n == l.push {
                return Node::Push(Box::new(PushGateway {
                    provider: Provider::new("push", c.push.clone()),
                    delivered: 0,
                }));
            }
            if n == l.registry {
                let watchers = l.chat.iter().copied();
                return Node::Registry(Box::new(Registry::new("registry", c.registry.clone()).watched_by(watchers)));
            }
            Node::Kv(Box::new(KvServer::new("kv", &c.kv, &map, n, &[])))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}

/// The parts' statistics, summed over their nodes.
#[derive(Default)]
pub struct Sums {
    pub chat: ChatStats,
    /// All devices.
    pub device: DeviceStats,
    /// Per delivery mode (`Delivery::index`).
    pub by_mode: [DeviceStats; 3],
    pub conn: ConnClientStats,
    pub views: ViewStats,
    pub kv: KvStats,
    pub push: ProviderStats,
    pub push_delivered: u64,
}

pub fn sums(run: &RunView<'_, Node>) -> Sums {
    let mut s = Sums::default();
    let sim = run.sim;
    let topo = run.topology();
    for &n in topo.servers.iter().chain(&topo.clients) {
        match sim.actor(n) {
            Some(Node::Chat(c)) => {
                s.chat.add(&c.stats);
                s.views.add(&c.view.stats);
            }
            Some(Node::Client(cl)) => {
                for (m, st) in cl.stats.iter().enumerate() {
                    s.device.add(st);
                    s.by_mode[m].add(st);
                }
                s.conn.add(&cl.devices.stats);
            }
            Some(Node::Kv(k)) => s.kv.add(&k.stats),
            Some(Node::Push(g)) => {
                s.push.add(&g.provider.stats);
                s.push_delivered += g.delivered;
            }
            _ => {}
        }
    }
    s
}
