//! Dynamo's history against a sequential object (`sim_core::lin`): `linearizable`,
//! `read_your_writes`, `monotonic_reads`.
//!
//! **Which object.** What a key holds depends on the reconciliation policy, and so does the
//! sequential specification its history is checked against:
//!
//! - **Client merge** (the default, the paper's shopping cart): a put of item `x` reads the key's
//!   versions, and writes the union of their items plus `x`, superseding exactly the versions it
//!   read; a blind put writes `{x}` superseding nothing; a get returns the union of the items of
//!   every sibling it got. No put ever removes an item (a version is dropped only by one whose
//!   items include its own), so the key is an **add-only set**: put `x` = `add(x)`, get =
//!   `read() -> the set`. Siblings need no special case: `{a, b}` returned as two siblings is
//!   the set `{a, b}`, consistent exactly when some order of the operations has both adds before
//!   that read and no other add. A register would be unsound here: after `put a` then `put b`
//!   (read-modify-write) a correct store returns `{a, b}`, which no register read can return, and
//!   a register "with multi-value reads" (any of the latest concurrent writes) is no sequential
//!   object at all. Under the paper's vector clocks a concurrent put can supersede a sibling it
//!   never read, and its item disappears: a read that misses an item an earlier read saw is what
//!   the checker reports.
//! - **Last-write-wins**: every put is blind and a replica keeps one version, so the key is a
//!   **register**: put `x` = `write(x)`, get = `read() -> x` (`0`: never written).
//!
//! **Outcomes.** A get that failed or timed out changed nothing and is left out. A put that timed
//! out has an unknown outcome (it may have taken effect at any time after its invocation, or
//! never), and so does a put that *failed*: a client retries a silent coordinator with the next
//! one, and a later attempt's "too few replicas" says nothing of the writes the first attempt
//! sent (Jepsen's `:info`, never `:fail`, for anything that may have happened). In the set, the
//! attempts of one workload retry chain write one item (the same value); adding an item is
//! idempotent, so they are one `add`: invoked with the first attempt, completed at the earliest
//! successful attempt's completion (unknown if none succeeded), named by the first attempt's op
//! id. An add of unknown outcome whose item no read returned is left out (it can only have
//! taken effect after every read, or never: leaving it out keeps every linearization valid).
//!
//! **Why the state is a hash.** The set's state is the 128-bit XOR of a fixed pseudo-random word
//! per item (a Zobrist hash, the checker's own trick for its memo); a read matches when the hash
//! of its items equals the state. Every item is added at most once per key (values are unique:
//! a put writes its op id + 1, and a retry chain is one add), so XOR is set insertion, a step is
//! O(1) and a configuration 16 bytes, where a `BTreeSet` state (`lin::Set`) would be cloned at
//! every step and kept whole in the memo: a hot key's cart has thousands of items. Two different
//! sets share a hash with probability about 2^-128.
//!
//! **What must come out** (each a test in `tests/scenarios.rs`): with `R + W > N` and a sloppy
//! quorum under a partition, puts acknowledged by fallbacks on one side are missed by gets
//! coordinated on the other (`dynamo_sloppy_not_linearizable.ron`); at `R = W = N` without
//! faults, every completed put is on every replica and every get asks every replica, which only
//! grow, so a get sees every put completed before it began and every item an earlier get saw
//! (`dynamo_linearizable.ron`). `R = W = N` is not an atomic snapshot across replicas: two gets
//! racing two puts that reach the replicas in different orders could see `{a}` and `{b}`, which
//! no sequential set explains and the checker would report.
//!
//! **Sessions** (a client node is a session; `read_your_writes`, `monotonic_reads`, per client
//! and key): for the set, a get must contain every item its client's puts added and completed
//! before it began, and every item of its client's gets completed before it began (the set only
//! grows); for the register, `sim_core::lin::weak`.
//!
//! Under a TTL the checks judge nothing (expiry removes items at times the history does not
//! show, so the key is no sequential set or register).

use crate::Config;
use crate::node::DynamoNode;
use crate::pset::PSet;
use crate::store::Reconcile;
use sim_core::lin::{self, Operation, Ret, Spec};
use sim_core::metrics::HistoryEntry;
use sim_core::{Check, OpId, Outcome, Reply, RunView};
use std::borrow::Cow;
use std::collections::BTreeMap;

const PUT: u16 = 1;

/// An add-only set of unique items per key (the cart under client merge), with its state kept as
/// a Zobrist hash (see the module essay).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cart<'h>(std::marker::PhantomData<&'h ()>);

/// A set operation whose reads borrow their items from the history (`'h`).
pub type CartOpn<'h> = Operation<CartOp, CartRet<'h>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CartOp {
    Add(u64),
    Read,
}

/// The items a get returned and their hash, borrowed from the history (a hot key's gets return
/// thousands): a sorted list, or the cart the model shared with the history (a persistent set,
/// never copied out: the history of a hot key's gets costs `O(changes)`, and so do these).
#[derive(Clone)]
pub struct Items<'h> {
    values: Values<'h>,
    hash: u128,
}

#[derive(Clone)]
enum Values<'h> {
    Sorted(Cow<'h, [u64]>),
    Set(&'h PSet<u64>),
}

/// An [`Items`]' values, ascending.
pub enum ItemsIter<'a> {
    Sorted(std::iter::Copied<std::slice::Iter<'a, u64>>),
    Set(crate::pset::Iter<'a, u64>),
}

impl Iterator for ItemsIter<'_> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        match self {
            ItemsIter::Sorted(i) => i.next(),
            ItemsIter::Set(i) => i.next(),
        }
    }
}

impl<'h> Items<'h> {
    pub fn new(values: &'h [u64]) -> Items<'h> {
        let values = if values.windows(2).all(|w| w[0] < w[1]) {
            Cow::Borrowed(values)
        } else {
            let mut v = values.to_vec();
            v.sort_unstable();
            v.dedup();
            Cow::Owned(v)
        };
        Items::hashed(Values::Sorted(values))
    }

    /// A get's reply as the history holds it (`None`: no items). A shared cart is read where it
    /// is, never copied; one of more than [`Items::SHARE_FROM`] items has its hash from `memo`
    /// (see [`PSet::xor_fold`]: `memo` lives no longer than the history), a smaller one is
    /// hashed item by item (a memo entry per node would cost more than the walk).
    pub fn of_reply(reply: &'h Reply, memo: &mut BTreeMap<usize, u128>) -> Option<Items<'h>> {
        match reply {
            Reply::Values(v) => Some(Items::new(v)),
            Reply::Shared(set) if set.len() > Items::SHARE_FROM => {
                Some(Items { values: Values::Set(set), hash: set.xor_fold(&zobrist, memo) })
            }
            Reply::Shared(set) => Some(Items::hashed(Values::Set(set))),
            Reply::Value(_) | Reply::None => None,
        }
    }

    /// The size above which a shared cart's hash is memoized by subtree.
    const SHARE_FROM: usize = 64;

    fn hashed(values: Values<'h>) -> Items<'h> {
        let mut items = Items { values, hash: 0 };
        items.hash = items.iter().fold(0, |h, v| h ^ zobrist(v));
        items
    }

    /// The values, ascending.
    pub fn iter(&self) -> ItemsIter<'_> {
        match &self.values {
            Values::Sorted(v) => ItemsIter::Sorted(v.iter().copied()),
            Values::Set(s) => ItemsIter::Set(s.iter()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.values {
            Values::Sorted(v) => v.len(),
            Values::Set(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, v: u64) -> bool {
        match &self.values {
            Values::Sorted(s) => s.binary_search(&v).is_ok(),
            Values::Set(s) => s.contains(&v),
        }
    }
}

impl PartialEq for Items<'_> {
    fn eq(&self, other: &Items<'_>) -> bool {
        self.hash == other.hash && self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Items<'_> {}

impl std::fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CartRet<'h> {
    Done,
    Items(Items<'h>),
}

/// The fixed pseudo-random 128-bit word of item `v`.
fn zobrist(v: u64) -> u128 {
    let a = sim_core::rng::mix64(v ^ 0x6a09_e667_f3bc_c908);
    let b = sim_core::rng::mix64(a ^ 0xbb67_ae85_84ca_a73b);
    ((a as u128) << 64) | b as u128
}

impl<'h> Spec for Cart<'h> {
    type State = u128;
    type Input = CartOp;
    type Output = CartRet<'h>;
    fn init(&self) -> u128 {
        0
    }
    fn step(&self, s: &u128, input: &CartOp, output: Option<&CartRet<'h>>) -> Option<u128> {
        match (input, output) {
            (CartOp::Add(v), None | Some(CartRet::Done)) => Some(s ^ zobrist(*v)),
            (CartOp::Read, None) => Some(*s),
            (CartOp::Read, Some(CartRet::Items(items))) => (items.hash == *s).then_some(*s),
            _ => None,
        }
    }
    fn mutates(&self, input: &CartOp) -> bool {
        matches!(input, CartOp::Add(_))
    }
    /// An add of unknown outcome whose item no read returned: had it taken effect before a read,
    /// that read would hold the item (nothing removes one), so it took effect after every read or
    /// never, and leaving it out keeps every linearization valid.
    fn prunable_unknown(&self, ops: &[&CartOpn<'h>]) -> Vec<bool> {
        if ops.iter().all(|op| op.output().is_some()) {
            // Nothing of unknown outcome (the common key): no items to gather.
            return vec![false; ops.len()];
        }
        // The items of unknown adds (few: failed and timed-out puts) looked up in every read's
        // items, sorted: not every read's items gathered (a hot key's reads hold thousands each).
        let mut unknown: Vec<u64> = ops
            .iter()
            .filter_map(|op| match (op.output(), op.input) {
                (None, CartOp::Add(v)) => Some(v),
                _ => None,
            })
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        let mut seen = vec![false; unknown.len()];
        for op in ops {
            if let Some(CartRet::Items(items)) = op.output() {
                for (i, v) in unknown.iter().enumerate() {
                    seen[i] |= !seen[i] && items.contains(*v);
                }
            }
        }
        ops.iter()
            .map(|op| {
                op.output().is_none()
                    && matches!(op.input, CartOp::Add(v) if unknown.binary_search(&v).is_ok_and(|i| !seen[i]))
            })
            .collect()
    }
    fn needs(&self, input: &CartOp, output: Option<&CartRet<'h>>, writer: &CartOp) -> bool {
        match (input, output, writer) {
            (CartOp::Read, Some(CartRet::Items(items)), CartOp::Add(v)) => items.contains(*v),
            _ => false,
        }
    }
    /// A cart is a set of independent items: a violation is looked for in one or two items first
    /// (a hot key's reads hold hundreds, each needing its adds: no smaller window otherwise).
    fn element(&self, input: &CartOp) -> Option<u64> {
        match *input {
            CartOp::Add(v) => Some(v),
            CartOp::Read => None,
        }
    }
    fn restrict(
        &self,
        input: &CartOp,
        output: Option<&CartRet<'h>>,
        keep: &[u64],
    ) -> Option<(CartOp, Option<CartRet<'h>>)> {
        match (input, output) {
            (CartOp::Add(v), _) if keep.binary_search(v).is_err() => None,
            (CartOp::Read, Some(CartRet::Items(items))) => {
                let seen: Vec<u64> = keep.iter().copied().filter(|&v| items.contains(v)).collect();
                Some((CartOp::Read, Some(CartRet::Items(Items::hashed(Values::Sorted(Cow::Owned(seen)))))))
            }
            _ => Some((*input, output.cloned())),
        }
    }
}

/// The history as set operations: one `add` per (key, item), merging a retry chain's attempts;
/// gets that returned items. In invocation order of their first attempt.
pub fn cart_history<'h>(history: &'h [HistoryEntry]) -> Vec<CartOpn<'h>> {
    // A put's item is its first attempt's op id + 1, unique in the run and the same for every
    // attempt of its chain (and so of one key): the chain's add is found by its item, in a dense
    // table (`NONE`: no add yet) rather than a map of (key, item).
    const NONE: u32 = u32::MAX;
    let mut add_at: Vec<u32> = vec![NONE; history.len() + 1];
    let mut ops: Vec<CartOpn<'h>> = Vec::with_capacity(history.len());
    // Shared carts' subtrees already hashed, by address (the history keeps them alive).
    let mut memo = BTreeMap::new();
    for e in history {
        if e.kind == PUT {
            let Some(attempt) = put(e, CartOp::Add(e.value), CartRet::Done) else { continue };
            let slot = add_at.get_mut(e.value as usize).filter(|i| **i != NONE).map(|i| *i as usize);
            let i = match slot {
                Some(i) => i,
                None => {
                    ops.push(Operation { id: e.logical().0 as u64, ret: Ret::Unknown, ..attempt.clone() });
                    if let Some(a) = add_at.get_mut(e.value as usize) {
                        *a = (ops.len() - 1) as u32;
                    }
                    ops.len() - 1
                }
            };
            let add = &mut ops[i];
            add.invoke = add.invoke.min(attempt.invoke);
            if let Some(at) = attempt.complete()
                && add.complete().is_none_or(|c| at < c)
            {
                add.ret = attempt.ret;
            }
        } else {
            // A get that failed, timed out or was pending changed nothing: left out.
            let ret = match (e.outcome, e.complete.get(), &e.reply) {
                (Some(Outcome::Ok), Some(at), reply) => match Items::of_reply(reply, &mut memo) {
                    Some(items) => Ret::Ok { at, output: CartRet::Items(items) },
                    None => continue,
                },
                _ => continue,
            };
            ops.push(Operation {
                id: e.op.0 as u64,
                client: e.client.0,
                key: e.key,
                invoke: e.invoke,
                input: CartOp::Read,
                ret,
            });
        }
    }
    // (invoke, id) is unique (an add is named by its chain's first op id, a get by its own), so
    // the order does not depend on the order the operations were gathered in.
    ops.sort_by_key(|o| (o.invoke, o.id));
    ops
}

/// The history as register operations (last-write-wins): a put writes its value, a get reads
/// the one item it returned (0: none). A put that failed is of unknown outcome, as in the set.
pub fn register_history(history: &[HistoryEntry]) -> Vec<Operation<lin::RegOp, lin::RegRet>> {
    history
        .iter()
        .filter_map(|e| {
            if e.kind == PUT {
                put(e, lin::RegOp::Write(e.value), lin::RegRet::Done)
            } else {
                lin::from_entry(e, lin::RegOp::Read, |r| match r {
                    // Last-write-wins keeps one version: a reply with several items is a value no
                    // write wrote (u64::MAX), which fails the check rather than hiding.
                    Reply::Values(v) if v.len() > 1 => Some(lin::RegRet::Value(u64::MAX)),
                    Reply::Values(v) => Some(lin::RegRet::Value(v.first().copied().unwrap_or(0))),
                    Reply::Shared(v) if v.len() > 1 => Some(lin::RegRet::Value(u64::MAX)),
                    Reply::Shared(v) => Some(lin::RegRet::Value(v.iter().next().unwrap_or(0))),
                    _ => None,
                })
            }
        })
        .collect()
}

/// A put as an operation: completed with `done` when it succeeded; of unknown outcome when it
/// failed, timed out or was pending; `None` when a server refused it as no coordinator of
/// clients (it was never sent anywhere).
fn put<I, O>(e: &HistoryEntry, input: I, done: O) -> Option<Operation<I, O>> {
    let ret = match (e.outcome, e.complete.get()) {
        (Some(Outcome::Rejected), _) => return None,
        (Some(Outcome::Ok), Some(at)) => Ret::Ok { at, output: done },
        _ => Ret::Unknown,
    };
    Some(Operation { id: e.op.0 as u64, client: e.client.0, key: e.key, invoke: e.invoke, input, ret })
}

/// Read-your-writes and monotonic reads over a set history, per client and key: `(judged,
/// violations as (read, the op whose item it missed))` for each.
pub fn cart_sessions(ops: &[CartOpn<'_>]) -> lin::weak::SessionReport {
    let mut r = lin::weak::SessionReport::default();
    // Per session: completed adds (completion, item, id), reads (invoke, completion, items, id).
    let mut adds: Vec<(u64, u64, u64)> = Vec::new();
    let mut reads: Vec<(u64, u64, &Items<'_>, u64)> = Vec::new();
    let mut by_done: Vec<(u64, u64, &Items<'_>, u64)> = Vec::new();
    // A session of one operation judges nothing.
    for run in lin::weak::Sessions::of(ops).iter().filter(|s| s.len() > 1) {
        adds.clear();
        reads.clear();
        for i in run.indices() {
            let op = &ops[i];
            let done = op.complete().expect("completed");
            match (op.input, op.output()) {
                (CartOp::Add(v), _) => adds.push((done.0, v, op.id)),
                (CartOp::Read, Some(CartRet::Items(items))) => reads.push((op.invoke.0, done.0, items, op.id)),
                _ => {}
            }
        }
        session(&mut adds, &mut reads, &mut by_done, &mut r);
    }
    r.ryw_violations.sort_unstable();
    r.mr_violations.sort_unstable();
    r
}

/// One session's reads judged against its adds and its earlier reads (see [`cart_sessions`]).
fn session<'a, 'h>(
    adds: &mut [(u64, u64, u64)],
    reads: &mut [(u64, u64, &'a Items<'h>, u64)],
    by_done: &mut Vec<(u64, u64, &'a Items<'h>, u64)>,
    r: &mut lin::weak::SessionReport,
) {
    adds.sort_unstable();
    reads.sort_by_key(|x| (x.0, x.3));
    by_done.clear();
    by_done.extend_from_slice(reads);
    by_done.sort_by_key(|x| (x.1, x.3));
    // Sweeps in invocation order: the session's adds and reads completed before each read began.
    let (mut ai, mut ri) = (0, 0);
    // Items the session must see, each with the op that makes it required (first one wins):
    // `own` by the session's acknowledged adds, `seen` (sorted by item) by its completed reads,
    // merged in as each completes (a read's items are sorted: a merge, not an insert per item).
    let mut own: BTreeMap<u64, u64> = BTreeMap::new();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for &(invoke, _, items, id) in reads.iter() {
        while ai < adds.len() && adds[ai].0 < invoke {
            own.entry(adds[ai].1).or_insert(adds[ai].2);
            ai += 1;
        }
        while ri < by_done.len() && by_done[ri].1 < invoke {
            merge_seen(&mut seen, &mut merged, by_done[ri].2.iter(), by_done[ri].3);
            ri += 1;
        }
        if ai > 0 {
            r.ryw_judged += 1;
            if let Some((_, &w)) = own.iter().find(|&(&v, _)| !items.contains(v)) {
                r.ryw_violations.push((id, w));
            }
        }
        if ri > 0 {
            r.mr_judged += 1;
            if let Some(w) = first_missing(&seen, items.iter()) {
                r.mr_violations.push((id, w));
            }
        }
    }
}

/// Adds the items `values` (ascending) that `seen` (sorted by item) lacks, each required by `by`.
fn merge_seen(seen: &mut Vec<(u64, u64)>, merged: &mut Vec<(u64, u64)>, values: impl Iterator<Item = u64>, by: u64) {
    merged.clear();
    let mut values = values.peekable();
    let mut i = 0;
    loop {
        let next = values.peek().copied();
        match seen.get(i) {
            Some(&s) if next.is_none_or(|v| s.0 <= v) => {
                if next == Some(s.0) {
                    values.next();
                }
                merged.push(s);
                i += 1;
            }
            _ => match next {
                Some(v) => {
                    merged.push((v, by));
                    values.next();
                }
                None => break,
            },
        }
    }
    std::mem::swap(seen, merged);
}

/// The op of the smallest item of `required` (sorted by item) missing from `values` (ascending).
fn first_missing(required: &[(u64, u64)], values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut values = values.peekable();
    for &(v, by) in required {
        while values.next_if(|&x| x < v).is_some() {}
        if values.peek() != Some(&v) {
            return Some(by);
        }
    }
    None
}

/// The checks' memory at its peak for `ops` operations (bytes): each operation as the checker's
/// operation (a get's items are borrowed from the history), while `cart_history` sorts them
/// (a stable sort's buffer of half as many) beside its table of adds by item (4 B). The lists
/// made after the sort (the sessions' sorted index, 16 B an operation and its radix buffer; the
/// linearizability check's cut by key) take less. Measured with massif on `dynamo_10k` cut to
/// 20 s (200,000 operations): the heap's peak is at the sort, with 34.4 MB of `cart_history`'s
/// (172 B an operation); counting the per-key and per-session lists on top, as this did before,
/// made 68.8 MB.
pub fn footprint(ops: f64) -> f64 {
    let op = std::mem::size_of::<CartOpn<'static>>() as f64;
    ops * (1.5 * op + 8.0)
}

/// The three checks, and the timeline of the first linearizability violation as a figure.
pub fn checks(config: &Config, run: &RunView<'_, DynamoNode>) -> (Vec<Check>, Vec<(String, String)>) {
    let history = run.history();
    if config.ttl.is_some() {
        let keys = history.iter().map(|e| e.key).collect::<std::collections::BTreeSet<_>>().len();
        let why = "a TTL expires items at times the history does not show (no sequential set or register)";
        let checks = ["linearizable", "read_your_writes", "monotonic_reads"]
            .map(|name| Check::judged(name, 0u64, "keys").skipped(keys, why).passed_if(true));
        return (checks.into(), Vec::new());
    }
    let opts = lin::Options::default();
    match config.reconcile {
        Reconcile::ClientMerge => {
            let ops = cart_history(history);
            let report = lin::check(&Cart::default(), &ops, &opts);
            let (mut checks, mut figures) = finish(&report, &cart_sessions(&ops), "add-only set");
            // The first violating key's plainest evidence, in words and as a figure of its own.
            let first = report.violations.first().map(|v| v.key);
            if let Some(w) = first.and_then(|key| witness(ops.iter().filter(|o| o.key == key))) {
                checks[0].detail = format!("{}; {}", w.describe(), checks[0].detail);
                figures.insert(0, (format!("linearizable_witness_key_{}", w.add.key), w.figure()));
            }
            (checks, figures)
        }
        Reconcile::LastWriteWins => {
            let ops = register_history(history);
            let report = lin::check(&lin::Register, &ops, &opts);
            finish(&report, &lin::weak::sessions(&ops), "register")
        }
    }
}

/// Two or three operations of one key that no add-only set explains, whatever else happened:
/// a get that began after `add` was acknowledged, or after an earlier get `saw` returned its
/// item, and did not return it (`missed`).
pub struct Witness<'a, 'h> {
    pub add: &'a CartOpn<'h>,
    pub saw: Option<&'a CartOpn<'h>>,
    pub missed: &'a CartOpn<'h>,
}

fn items<'a, 'h>(op: &'a CartOpn<'h>) -> Option<&'a Items<'h>> {
    match op.output() {
        Some(CartRet::Items(items)) => Some(items),
        _ => None,
    }
}

/// The earliest get (by invocation) of `ops` (one key) that misses an item it must hold: one
/// acknowledged before it began (preferred), or one an earlier get returned before it began.
/// `None` when the key's violation needs more than one item to show (two gets racing two adds).
pub fn witness<'a, 'h>(ops: impl Iterator<Item = &'a CartOpn<'h>>) -> Option<Witness<'a, 'h>> {
    let ops: Vec<&CartOpn<'_>> = ops.collect();
    let mut adds: Vec<(u64, u64, &CartOpn<'_>)> = ops
        .iter()
        .filter_map(|o| match (o.input, o.complete()) {
            (CartOp::Add(v), Some(done)) => Some((done.0, v, *o)),
            _ => None,
        })
        .collect();
    adds.sort_by_key(|a| (a.0, a.1));
    let by_value: BTreeMap<u64, &CartOpn<'_>> =
        ops.iter().filter_map(|o| if let CartOp::Add(v) = o.input { Some((v, *o)) } else { None }).collect();
    let mut reads: Vec<&CartOpn<'_>> = ops.iter().copied().filter(|o| items(o).is_some()).collect();
    reads.sort_by_key(|o| (o.invoke, o.id));
    let mut by_done = reads.clone();
    by_done.sort_by_key(|o| (o.complete(), o.id));
    let (mut ai, mut ri) = (0, 0);
    // Items every later get must hold: by an acknowledged add, or by a completed get.
    let mut acked: Vec<&CartOpn<'_>> = Vec::new();
    let mut seen: BTreeMap<u64, &CartOpn<'_>> = BTreeMap::new();
    for &g in &reads {
        while ai < adds.len() && adds[ai].0 < g.invoke.0 {
            acked.push(adds[ai].2);
            ai += 1;
        }
        while ri < by_done.len() && by_done[ri].complete().is_some_and(|c| c < g.invoke) {
            for v in items(by_done[ri])?.iter() {
                seen.entry(v).or_insert(by_done[ri]);
            }
            ri += 1;
        }
        let holds = |v: u64| items(g).is_some_and(|i| i.contains(v));
        if let Some(&add) = acked.iter().find(|a| matches!(a.input, CartOp::Add(v) if !holds(v))) {
            return Some(Witness { add, saw: None, missed: g });
        }
        if let Some((v, &saw)) = seen.iter().find(|&(&v, _)| !holds(v) && by_value.contains_key(&v)) {
            return Some(Witness { add: by_value[v], saw: Some(saw), missed: g });
        }
    }
    None
}

impl Witness<'_, '_> {
    fn value(&self) -> u64 {
        match self.add.input {
            CartOp::Add(v) => v,
            CartOp::Read => unreachable!("a witness's add is an add"),
        }
    }

    /// In words, with op ids and times.
    pub fn describe(&self) -> String {
        let (g, a) = (self.missed, self.add);
        let why = match self.saw {
            None => format!(
                "put op {} (client {}) was acknowledged at {} (invoked at {})",
                a.id,
                a.client,
                a.complete().map_or("?".into(), |t| t.to_string()),
                a.invoke
            ),
            Some(s) => format!(
                "get op {} (client {}) had returned the item of put op {} at {}",
                s.id,
                s.client,
                a.id,
                s.complete().map_or("?".into(), |t| t.to_string())
            ),
        };
        format!(
            "e.g. key {}: get op {} (client {}) began at {} after {why}, and returned {} items without it",
            a.key,
            g.id,
            g.client,
            g.invoke,
            items(g).map_or(0, |i| i.len())
        )
    }

    /// A timeline of the two or three operations.
    pub fn figure(&self) -> String {
        let v = self.value();
        let bar = |op: &CartOpn<'_>, label: String| lin::svg::Bar {
            op: op.id,
            client: op.client,
            invoke: op.invoke,
            complete: op.complete(),
            label,
            marked: true,
        };
        let n = |op: &CartOpn<'_>| items(op).map_or(0, |i| i.len());
        let mut bars = vec![bar(self.add, format!("put: add {v}"))];
        if let Some(s) = self.saw {
            bars.push(bar(s, format!("get -> {} items, {v} among them", n(s))));
        }
        bars.push(bar(self.missed, format!("get -> {} items, no {v}", n(self.missed))));
        let title = format!("not linearizable: key {}, get op {} misses item {v}", self.add.key, self.missed.id);
        lin::svg::timeline(&title, &bars)
    }
}

fn finish<I: std::fmt::Debug, O: std::fmt::Debug>(
    report: &lin::LinReport<I, O>,
    s: &lin::weak::SessionReport,
    object: &str,
) -> (Vec<Check>, Vec<(String, String)>) {
    let mut linearizable = lin::to_check("linearizable", report);
    linearizable.detail = format!("each key a sequential {object} (values: put op id + 1); {}", linearizable.detail);
    let session = |name: &str, judged: u64, unit: &str, v: &[(u64, u64)], word: &str, what: &str| {
        let first = v.first().map(|&(r, w)| format!("first: get op {r} missed what {what} op {w} made visible"));
        Check::judged(name, judged, unit)
            .violations(v.len() as u64, word)
            .detail(first.unwrap_or_default())
            .blame_ids(v.iter().flat_map(|&(r, w)| [OpId::new(r), OpId::new(w)]))
    };
    let figures = lin::violation_figure("linearizable", report);
    let checks = vec![
        linearizable,
        session(
            "read_your_writes",
            s.ryw_judged,
            "ok gets after a put of their session",
            &s.ryw_violations,
            "missed their session's put",
            "the session's put",
        ),
        session(
            "monotonic_reads",
            s.mr_judged,
            "ok gets after a get of their session",
            &s.mr_violations,
            "went back in time",
            "the session's earlier get",
        ),
    ];
    (checks, figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, Time};

    /// The radix sort of `cart_sessions`, by (client, key) alone, orders entries as a comparison
    /// sort of whole entries does when their indices ascend as built: on random sessions over few
    /// clients and keys (ties common) and over full-width keys.
    #[test]
    fn the_sessions_radix_sort_keeps_the_order_of_whole_entries() {
        for case in 0..200u64 {
            let draw = |i: u64, m: u64| sim_core::rng::mix64((case << 32) ^ i) % m;
            let keys = if case % 2 == 0 { 1 + draw(0, 8) } else { u64::MAX };
            let entries: Vec<(u32, u64, u32)> =
                (0..draw(1, 300)).map(|i| (draw(2 * i + 10, 4) as u32, draw(2 * i + 11, keys), i as u32)).collect();
            let mut expected = entries.clone();
            expected.sort_unstable();
            let mut radix = entries;
            radsort::sort_by_key(&mut radix, |s| (s.0, s.1));
            assert_eq!(radix, expected, "case {case}");
        }
    }

    fn add(id: u64, client: u32, v: u64, invoke: u64, done: Option<u64>) -> CartOpn<'static> {
        let ret = done.map_or(Ret::Unknown, |at| Ret::Ok { at: Time(at), output: CartRet::Done });
        Operation { id, client, key: 1, invoke: Time(invoke), input: CartOp::Add(v), ret }
    }

    fn read(id: u64, client: u32, items: &'static [u64], invoke: u64, done: u64) -> CartOpn<'static> {
        let output = CartRet::Items(Items::new(items));
        Operation {
            id,
            client,
            key: 1,
            invoke: Time(invoke),
            input: CartOp::Read,
            ret: Ret::Ok { at: Time(done), output },
        }
    }

    fn linearizable(ops: &[CartOpn<'_>]) -> bool {
        lin::check(&Cart::default(), ops, &lin::Options::default()).linearizable()
    }

    #[test]
    fn a_get_after_an_acknowledged_put_must_hold_its_item() {
        let put = add(0, 0, 1, 0, Some(10));
        assert!(linearizable(&[put.clone(), read(1, 1, &[1], 20, 30)]));
        assert!(!linearizable(&[put.clone(), read(1, 1, &[], 20, 30)]), "the acknowledged item is missing");
        // Concurrent with the put, either answer is possible.
        assert!(linearizable(&[put.clone(), read(1, 1, &[], 5, 30)]));
        assert!(linearizable(&[put, read(1, 1, &[1], 5, 30)]));
    }

    #[test]
    fn siblings_are_the_set_of_concurrent_items() {
        let (a, b) = (add(0, 0, 1, 0, Some(10)), add(1, 1, 2, 0, Some(10)));
        // During both puts any subset may be read; after both, exactly both (returned as siblings
        // or merged: the union is the same set).
        for seen in [&[][..], &[1], &[2], &[1, 2]] {
            assert!(linearizable(&[a.clone(), b.clone(), read(2, 2, seen, 5, 8)]), "{seen:?}");
        }
        assert!(linearizable(&[a.clone(), b.clone(), read(2, 2, &[1, 2], 20, 30)]));
        assert!(!linearizable(&[a.clone(), b.clone(), read(2, 2, &[1], 20, 30)]));
        // An item nobody added.
        assert!(!linearizable(&[a, b, read(2, 2, &[1, 2, 3], 20, 30)]));
    }

    #[test]
    fn an_item_once_seen_stays_and_reads_are_snapshots() {
        let a = add(0, 0, 1, 0, Some(100));
        // A get saw the item, a later get (both while the put was in flight) did not: went back.
        assert!(!linearizable(&[a.clone(), read(1, 1, &[1], 10, 20), read(2, 2, &[], 30, 40)]));
        assert!(linearizable(&[a.clone(), read(1, 1, &[], 10, 20), read(2, 2, &[1], 30, 40)]));
        // Two gets racing two puts, each seeing one item: no order of a set explains both.
        let b = add(3, 3, 2, 0, Some(100));
        assert!(!linearizable(&[a.clone(), b.clone(), read(1, 1, &[1], 10, 50), read(2, 2, &[2], 10, 50)]));
        assert!(linearizable(&[a, b, read(1, 1, &[1], 10, 50), read(2, 2, &[1, 2], 10, 50)]));
    }

    #[test]
    fn a_put_of_unknown_outcome_may_take_effect_later_or_never() {
        let lost = add(0, 0, 1, 0, None);
        assert!(linearizable(&[lost.clone(), read(1, 1, &[], 20, 30)]), "never took effect");
        assert!(linearizable(&[lost.clone(), read(1, 1, &[], 20, 30), read(2, 1, &[1], 40, 50)]), "took effect late");
        assert!(!linearizable(&[lost.clone(), read(1, 1, &[1], 20, 30), read(2, 1, &[], 40, 50)]));
        // Unseen, it is left out of the search.
        let r = lin::check(&Cart::default(), &[lost, read(1, 1, &[], 20, 30)], &lin::Options::default());
        assert_eq!(r.pruned_unknown, 1);
    }

    fn entry(
        op: u64,
        logical: u64,
        kind: u16,
        value: u64,
        at: (u64, u64),
        outcome: Outcome,
        reply: Reply,
    ) -> HistoryEntry {
        // As the kernel writes them: a put's value is its first attempt's id plus one.
        assert!(kind != PUT || value == logical + 1, "op {op}: a put's value is its first attempt's id plus one");
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind,
            key: 4,
            value,
            attempt: (op - logical) as u32 + 1,
            invoke: Time(at.0),
            complete: Some(Time(at.1)).into(),
            outcome: Some(outcome),
            reply,
        }
    }

    #[test]
    fn a_cart_shared_with_the_history_reads_as_the_same_items_without_a_copy() {
        let small: PSet<u64> = [7, 3, 5].into_iter().collect();
        let (shared, listed) = (Reply::Shared(small), Reply::list([3, 5, 7]));
        assert_eq!(format!("{shared:?}"), format!("{listed:?}"), "shown as the list it stands for");
        let memo = &mut BTreeMap::new();
        let (a, b) = (Items::of_reply(&shared, memo).expect("items"), Items::of_reply(&listed, memo).expect("items"));
        assert_eq!(a, b);
        assert_eq!((a.len(), a.contains(5), a.contains(4)), (3, true, false));
        // A large cart: the history's set itself, borrowed, not a copy; its hash is the list's,
        // and so is that of a cart grown from it (its shared subtrees hashed once, in `memo`).
        let cart: PSet<u64> = (0..200).map(|i| 3 * i).collect();
        let grown = cart.insert(1);
        let big = Reply::Shared(cart.clone());
        let big_grown = Reply::Shared(grown.clone());
        let a = Items::of_reply(&big, memo).expect("items");
        assert!(matches!(a.values, Values::Set(s) if s.shares_root(&cart)));
        assert_eq!(a, Items::new(&cart.to_vec()));
        assert_eq!(Items::of_reply(&big_grown, memo).expect("items"), Items::new(&grown.to_vec()));
        // Histories that differ only in how a get's items are held check alike.
        let h = |reply: &Reply| {
            [
                entry(0, 0, PUT, 1, (0, 10), Outcome::Ok, Reply::None),
                entry(1, 1, 0, 0, (20, 30), Outcome::Ok, reply.clone()),
            ]
        };
        let (hs, hl) = (h(&shared), h(&listed));
        assert_eq!(cart_history(&hs), cart_history(&hl));
        assert_eq!(register_history(&hs), register_history(&hl));
        assert_eq!(Reply::Shared(PSet::<u64>::new()).values().len(), 0);
    }

    #[test]
    fn a_retry_chain_is_one_add_and_a_failed_put_may_have_happened() {
        let h = [
            entry(0, 0, PUT, 1, (0, 10), Outcome::Timeout, Reply::None),
            entry(1, 0, PUT, 1, (20, 30), Outcome::Ok, Reply::None),
            entry(2, 2, PUT, 3, (40, 50), Outcome::Fail, Reply::None),
            entry(3, 3, 0, 0, (60, 70), Outcome::Ok, Reply::list([3, 1])),
            entry(4, 4, 0, 0, (80, 90), Outcome::Fail, Reply::None),
            entry(5, 5, PUT, 6, (80, 90), Outcome::Rejected, Reply::None),
        ];
        let ops = cart_history(&h);
        assert_eq!(ops.len(), 3, "{ops:?}");
        let chain = Operation { key: 4, ..add(0, 9, 1, 0, Some(30)) };
        assert_eq!(ops[0], chain, "invoked with the first attempt, done at the retry");
        assert_eq!(ops[1].ret, Ret::Unknown, "the failed put may have been written by an earlier attempt");
        assert!(matches!(&ops[2].ret, Ret::Ok { output: CartRet::Items(i), .. } if i.iter().eq([1, 3])));
        assert!(linearizable(&ops));
        // Under last-write-wins: a register, a failed put unknown, several items an impossible value.
        let mut h = h.to_vec();
        h[3].reply = Reply::list([3]);
        let reg = register_history(&h);
        assert_eq!(reg.len(), 4);
        assert_eq!(reg[2].ret, Ret::Unknown);
        assert_eq!(reg[3].output(), Some(&lin::RegRet::Value(3)));
        h[3].reply = Reply::list([1, 3]);
        assert_eq!(register_history(&h)[3].output(), Some(&lin::RegRet::Value(u64::MAX)));
    }

    #[test]
    fn sessions_see_their_own_puts_and_never_go_back() {
        let ops = [
            add(0, 0, 1, 0, Some(10)),
            read(1, 0, &[1], 20, 30),
            read(2, 0, &[], 40, 50),  // misses its own put and what read 1 saw
            read(3, 1, &[], 40, 50),  // another session: not judged against client 0
            read(4, 0, &[1], 25, 60), // began before read 1 completed: judged only on the put
            add(5, 0, 2, 100, Some(110)),
            read(6, 0, &[1, 2], 120, 130),
        ];
        let s = cart_sessions(&ops);
        assert_eq!((s.ryw_judged, s.mr_judged), (4, 2));
        assert_eq!(s.ryw_violations, [(2, 0)]);
        assert_eq!(s.mr_violations, [(2, 1)]);
    }

    #[test]
    fn seen_items_keep_their_first_reader_and_the_smallest_missing_item_is_blamed() {
        let (mut seen, mut buf) = (Vec::new(), Vec::new());
        merge_seen(&mut seen, &mut buf, [2, 5].into_iter(), 10);
        merge_seen(&mut seen, &mut buf, [1, 2, 7].into_iter(), 11);
        assert_eq!(seen, [(1, 11), (2, 10), (5, 10), (7, 11)]);
        assert_eq!(first_missing(&seen, [1, 2, 5, 7, 9].into_iter()), None);
        assert_eq!(first_missing(&seen, [1, 2, 7].into_iter()), Some(10), "5 is missing, first seen by read 10");
        assert_eq!(first_missing(&seen, [2, 5, 7].into_iter()), Some(11), "1 is missing, seen by read 11");
        assert_eq!(first_missing(&seen, [].into_iter()), Some(11));
        assert_eq!(first_missing(&[], [].into_iter()), None);
    }

    #[test]
    fn the_witness_is_the_first_get_missing_an_acknowledged_or_seen_item() {
        let ops = [add(0, 0, 1, 0, Some(10)), read(1, 1, &[1], 20, 30), read(2, 2, &[], 40, 50)];
        let w = witness(ops.iter()).expect("a witness");
        assert_eq!((w.add.id, w.saw.map(|s| s.id), w.missed.id), (0, None, 2));
        assert!(w.describe().contains("get op 2 (client 2) began at 40ns after put op 0"), "{}", w.describe());
        let ops = [add(0, 0, 1, 0, Some(100)), read(1, 1, &[1], 20, 30), read(2, 2, &[], 40, 50)];
        let w = witness(ops.iter()).expect("a witness");
        assert_eq!((w.saw.map(|s| s.id), w.missed.id), (Some(1), 2));
        assert!(w.describe().contains("get op 1 (client 1) had returned the item of put op 0"), "{}", w.describe());
        let svg = w.figure();
        assert_eq!(svg.matches("class=\"op conflict\"").count(), 3, "{svg}");
        // The snapshot race has no single-item witness.
        let ops = [
            add(0, 0, 1, 0, Some(100)),
            add(3, 3, 2, 0, Some(100)),
            read(1, 1, &[1], 10, 50),
            read(2, 2, &[2], 10, 50),
        ];
        assert!(witness(ops.iter()).is_none());
    }
}
