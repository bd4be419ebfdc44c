//! # parts: the standard parts of a system design
//!
//! Most system designs are the same dozen parts wired differently: clients behind a load
//! balancer, a pool of stateless servers, a cache in front of a database, a partitioned queue
//! between services, workers, a slow third-party API, a CDN, servers holding long-lived
//! connections. This crate builds each part once, so that a design is its own protocol plus
//! wiring, and a cache or a retry loop has one set of bugs, fixed once.
//!
//! ## How a design holds parts
//!
//! A part is a plain struct that lives *inside* a design's actor (a node can hold several: an API
//! server holds a [`pool::Pool`] for its worker threads and a [`calls::Calls`] for its calls to
//! the database). A part never owns a node and never sees the world: like any actor code it acts
//! only through the [`Ctx`] its host hands it, so it draws randomness from the host's stream,
//! reads only the host's local clock, and does no IO.
//!
//! ## Clocks
//!
//! A part reads the clock its real counterpart reads. Elapsed time (timeouts, heartbeat and
//! session expiry, backoffs, a breaker's window, a queue's wait, a registry's publication lag, a
//! long poll's wait) is measured on the host's monotonic clock ([`Ctx::monotonic`]), as servers
//! measure it: a stepped wall clock neither expires a live session nor holds a change back. What
//! the real system stamps with the wall clock stays on [`Ctx::now`]: a log record's timestamp and
//! the retention that reads it, a key-value store's TTLs (Redis's `EXPIRE`), the epochs and
//! transaction ids a part derives from the time. A round of clock steps of up to 3 s (10 a minute)
//! over every scenario found the difference: the registry's lag queue on the wall clock held a
//! user's new server back 1.5 s after its clock stepped back, and `push` lost 30 pushes to
//! connected users.
//!
//! A failure detector must also not mistake its own stall for its peers' silence: a registry
//! paused 10 s found every session's renewal 10 s old on its first sweep after the pause (the
//! renewals waited in its queue behind the sweep) and expired them all. A sweep a whole
//! `session_timeout` after the previous one restarts the timeouts instead ([`sweep::Sweeps`], which
//! the [`registry`] uses, counter `stalls`, the [`log`]'s coordinator for brokers and group
//! members, counter `coordinator_stalls`, and the [`conn`] servers' heartbeat sweep, counter `stalls`
//! under its scope: a connection server paused 3 s dropped every connection on resume and the
//! pushes that waited for them went nowhere), as Cassandra's failure detector skips its convictions
//! after a local pause.
//!
//! A part that talks over the network has its own message enum (`kv::Msg`, ...) and a part that
//! waits has its own timer type (`calls::CallTimer`, `pool::PoolTimer`). The design's message and
//! timer enums wrap them, one variant per part ([`wire!`] writes the enum, the `From`
//! conversions and the [`Message`] impl), and a part's handlers are generic over any host whose
//! types can carry them ([`Host`]):
//!
//! ```ignore
//! parts::wire! { pub enum Msg { Kv(parts::kv::Msg), App(AppMsg) } }
//! parts::wire! { timers pub enum Timer { Call(parts::calls::CallTimer), Pool(parts::pool::PoolTimer) } }
//! ```
//!
//! Handlers return what happened (a call finished, a job was served) as plain values; the design
//! decides what that means for its protocol. Nothing calls back into the design.
//!
//! ## Measurement
//!
//! Every part instance has a *scope* (a `&'static str` the design gives it: `"api"`, `"db"`) and
//! counts through the kernel ([`Ctx::count_in`], [`Ctx::level`]): counters such as `api.rejected`
//! and levels such as `api.queue` (a cluster-wide queue length over time, plotted in the report)
//! survive crashes because the kernel keeps them. Parts also keep their own running statistics
//! (`Stats` structs) that a design sums over its nodes in `report` for its measures.
//!
//! ## The parts
//!
//! - [`calls`]: a caller's outbound requests: per-attempt timeout, retries with exponential
//!   backoff and jitter, a circuit breaker, and a [`balance::Balancer`] choosing the backend;
//!   [`calls::OpCalls`] for a workload client whose every operation is one call; on the server
//!   side, [`calls::AnswerWhenDurable`] for requests answered once their write is on disk.
//! - [`balance`]: load-balancing policies (round robin, random, least outstanding, power of two
//!   choices, consistent hashing on [`common::ring::Ring`], rendezvous hashing) and passive and
//!   active health checking with a detection delay.
//! - [`pool`]: a stateless service's servers: a concurrency limit, a bounded request queue with a
//!   rejection or shedding policy, service times from a distribution; and [`pool::Slots`], slots
//!   held until the design releases them (a thread per request, a waiting room's admissions).
//! - [`conn`]: connection servers holding long-lived client connections (WebSocket/SSE) and the
//!   devices on the other end: heartbeats both ways, reconnects with backoff and jitter, a router
//!   choosing the server, open connections as a kernel level.
//! - [`registry`]: a ZooKeeper-style registry of which server holds each user, with server
//!   sessions (ephemeral entries) and readers whose view lags the registry by a configurable
//!   propagation delay.
//! - [`cache`]: an LRU or LFU cache with a capacity in entries or bytes, TTLs and negative caching,
//!   and the read path around it (cache-aside, read-through, write-through, write-around, request
//!   coalescing, probabilistic early refresh), with hit ratios over time.
//! - [`cdn`]: a content delivery network: PoPs by zone (caching tiers over the cache part), an
//!   optional origin shield, origin servers; hit ratio per tier and origin load.
//! - [`kv`]: a database / KV store: shards (hash or range) with a primary and followers,
//!   asynchronous replication (follower reads may be stale), versioned rows with compare-and-set,
//!   atomic conditional updates ("decrement if at least n", with a hold that expires), TTLs with
//!   keyspace-expiry events, every acknowledged write synced to disk first; its client side; and
//!   [`kv::Restocker`], the subscriber that gives expired holds back to their counters.
//! - [`provider`]: a third-party dependency (payments, email, `isMalicious`): latency, error
//!   rate, a token-bucket rate limit (429), and outages a scenario schedules like faults.
//! - [`log`]: a partitioned, replicated log between services: topics, partitions by key, offsets,
//!   producers acknowledged after a quorum of disks, consumer groups with rebalance and committed
//!   offsets (at-least-once), retention, failover by coordinator-run elections; consumer lag as a
//!   level.
//! - [`workers`]: a pool of worker nodes with an autoscaler: a backlog or utilisation target, a
//!   decision interval, a cold start, min and max, draining scale-in; workers over time as levels.
//! - [`limiter`]: rate-limiting algorithms as state machines over a timestamp (fixed window,
//!   sliding log, sliding counter, token bucket) with their state's bytes.
//! - [`bloom`]: a Bloom filter with its false-positive formula.
//! - [`sketch`]: a count-min sketch (width and depth from its error and confidence, seeded
//!   hashes, add and take away, merge) with its error bound.
//! - [`rank`]: counts per id with an ordered index (the top `k`, updates as counts go up and
//!   down; optionally capped to the largest).
//! - [`shards`]: keys onto shard nodes by consistent hashing on the one ring.
//! - [`ids`]: the snowflake ID layout and base 62.
//! - [`window`]: event-time tumbling and sliding windows with a watermark (late events dropped
//!   and counted) and per-window deduplication by event id.
//! - [`snapshot`]: snapshot + replay recovery of a consumer's per-partition state, saved with the
//!   log offset it covers; the log commit follows the snapshots.

pub mod balance;
pub mod bloom;
pub mod cache;
pub mod calls;
pub mod cdn;
pub mod conn;
pub mod ids;
pub mod kv;
pub mod limiter;
pub mod log;
pub mod pool;
pub mod provider;
pub mod rank;
pub mod registry;
pub mod shards;
pub mod sketch;
pub mod snapshot;
pub mod sweep;
#[cfg(test)]
pub(crate) mod testing;
pub mod window;
pub mod workers;

pub use sim_core;
use sim_core::{Actor, Ctx, Message};

/// A host actor whose message and timer types carry a part's message `M` and timer `T`.
///
/// Implemented for every actor that can (through `From`), so a part handler is written once as
/// `fn on_msg<A: Host<kv::Msg, kv::Timer>>(&mut self, ctx: &mut Ctx<'_, A>, ...)`.
pub trait Host<M, T = NoTimer>: Actor<Msg: From<M>, Timer: From<T>> {}
impl<A, M, T> Host<M, T> for A
where
    A: Actor,
    A::Msg: From<M>,
    A::Timer: From<T>,
{
}

/// The timer type of a part that sets none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoTimer {}

/// The message type of a part that sends none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoMsg {}

impl Message for NoMsg {
    fn kind(&self) -> &'static str {
        match *self {}
    }
}

/// Sends a part's message through its host.
#[inline]
pub fn send<A: Actor<Msg: From<M>>, M>(ctx: &mut Ctx<'_, A>, to: sim_core::NodeId, msg: M) {
    ctx.send(to, A::Msg::from(msg));
}

/// Sets a part's timer through its host.
#[inline]
pub fn set_timer<A: Actor<Timer: From<T>>, T>(
    ctx: &mut Ctx<'_, A>,
    after: sim_core::Duration,
    timer: T,
) -> sim_core::TimerId {
    ctx.set_timer(after, A::Timer::from(timer))
}

/// A design's message (or timer) enum over its parts' messages: the enum, a `From` per variant,
/// and (for messages) [`Message`] delegating `kind` and `size_bytes` to the variant.
///
/// ```ignore
/// parts::wire! {
///     /// Everything a node of this design sends.
///     pub enum Msg { Calls(AppMsg), Kv(parts::kv::Msg) }
/// }
/// parts::wire! { timers pub enum Timer { Call(parts::calls::CallTimer), Tick(AppTick) } }
/// ```
/// Two variants must not carry the same type (the `From` impls would collide).
#[macro_export]
macro_rules! wire {
    (timers $(#[$meta:meta])* $vis:vis enum $name:ident { $($var:ident($ty:ty)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis enum $name { $($var($ty)),+ }
        $(impl From<$ty> for $name {
            #[inline]
            fn from(m: $ty) -> Self { $name::$var(m) }
        })+
    };
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($var:ident($ty:ty)),+ $(,)? }) => {
        $crate::wire!(timers $(#[$meta])* $vis enum $name { $($var($ty)),+ });
        impl $crate::sim_core::Message for $name {
            #[inline]
            fn kind(&self) -> &'static str {
                match self { $($name::$var(m) => $crate::sim_core::Message::kind(m)),+ }
            }
            #[inline]
            fn size_bytes(&self) -> u64 {
                match self { $($name::$var(m) => $crate::sim_core::Message::size_bytes(m)),+ }
            }
        }
    };
}
