//! The checkers and measurements, computed from the history and the servers' final state.
//!
//! - `durability`: after the liveness phase, every acknowledged `put` survives in its key's
//!   replicas (the owners in the ring in force when the run ends). Client merge: its item is in the union of the versions the key's `N` owners hold.
//!   Last-write-wins: no acknowledged write lost to one acknowledged *before it began* (the final
//!   winner's write completed before the lost write was invoked); every lost write is listed.
//! - `convergence`: at the end, all owners of every key hold the same versions (and, with hinted
//!   handoff on, no hint is left undelivered).
//! - `stale_reads`: a successful `get` is *stale* when it returned neither the latest write
//!   acknowledged before it began nor any write concurrent with or after that one. The check
//!   fails on any stale read it judges: with `R + W > N` there are none. It judges every ok read
//!   except (each counted, with its reason) reads of a key with no write acknowledged before the
//!   read began, and reads that overlap, or whose latest write overlaps, a *disturbance of their
//!   key*: a fault touching one of the key's owners (a crash, pause or isolation of an owner; a
//!   split that separates its owners or its clients from them; any fault not tied to nodes, such
//!   as loss, touches every key; a clock step or drift touches none: it moves no replica and
//!   delays no message, and what it does to last-write-wins is what the check exists to see) or
//!   a ring change that changes the key's
//!   preference list, from its start until `quiet_after_faults` after it ends. Why those: a
//!   sloppy quorum puts writes on fallbacks until handoff, a suspected owner is skipped until
//!   the failure detector catches up, a moved range reaches its new owner by anti-entropy. A
//!   disturbance that healed between the write and the read, or one that touched no owner of
//!   the key, does not excuse the read: the write's `W` replicas and the read's `R` replicas
//!   overlap.
//! - `linearizable`, `read_your_writes`, `monotonic_reads`: the history against a sequential
//!   add-only set (client merge) or register (last-write-wins) per key; see [`crate::consistency`].
//!   Figures: the first violation's plainest evidence (`linearizable_witness_key_*`: the get and
//!   the put or earlier get it contradicts) and the checker's minimal sub-history
//!   (`linearizable_key_*`).
//! - Measures: `stale_read_fraction` (all reads), `stale_read_fraction_quiet`, `lost_writes`,
//!   `keys_diverged`, `hints_left`, `reads_with_siblings_fraction`, `versions_max`,
//!   `keys_per_node_max_over_mean`, `requests_per_node_max_over_mean` (both per unit of weight;
//!   requests are those sent to a server as coordinator, or under `coordinator: Proxy` as a
//!   replica),
//!   `ae_keys_repaired`, `ae_bytes`, `ae_bytes_full`, `ae_bytes_saved_fraction`.
//! - Tables: `consistency_vs_lag` (probability of a consistent read against the time since the
//!   latest acknowledged write, in buckets `[lag_ms_from, lag_ms_to)`; `-1`: no upper bound), `versions_per_read`, `balance_vs_vnodes` (the same keys and
//!   requests on rings of 1 to 256 tokens per weight, each row the mean over `rings` rings with
//!   the spread of its requests column; not for `EqualPartitions`, which has no tokens), and
//!   `balance_by_partitioning` (the paper's three strategies at the same number of ranges,
//!   load-balancing efficiency = mean / max primary requests per node, over the same rings).
//!   The two balance tables (and the measure `balance_rings`) are left out under
//!   `balance_tables: false`: they cost `12 * rings` ring builds and a placement of every key.

use crate::node::DynamoNode;
use crate::store::Sibling;
use crate::{Config, Reconcile, build_ring, epoch_at, ring_members, ring_with};
use common::ring::{Partitioning, Ring};
use sim_core::fault::Fault;
use sim_core::metrics::HistoryEntry;
use sim_core::net::PartitionSpec;
use sim_core::{Axis, Check, ModelReport, NodeId, Outcome, RunView, Table, Time};
use std::collections::BTreeMap;

const GET: u16 = 0;
const PUT: u16 = 1;

/// The versions of a replica's set live at its local time.
fn live<'a>(&(set, now): &(&'a [Sibling], u64)) -> impl Iterator<Item = &'a Sibling> + use<'a> {
    set.iter().filter(move |s| s.is_live(now))
}

/// max over mean of `load[i] / weight[i]`.
fn max_over_mean(load: &[f64], weight: &[f64]) -> f64 {
    let total: f64 = load.iter().sum();
    let wsum: f64 = weight.iter().sum();
    if total <= 0.0 || wsum <= 0.0 {
        return 1.0;
    }
    let mean = total / wsum;
    load.iter().zip(weight).filter(|(_, w)| **w > 0.0).map(|(l, w)| l / w).fold(0.0, f64::max) / mean
}

/// For each read `(key, invoked)`, the key's latest write completed before it: the third field
/// of the last entry of `writes` (sorted) below `(key, invoked)`, if that entry is of the key.
/// `writes`: `(key, completed, id)`. The reads sorted by key and time, then merged with the
/// writes: a binary search per read missed the cache at nearly every step of a list of every
/// acknowledged put.
fn latest_before(writes: &[(u64, Time, u32)], reads: &[(u64, Time)]) -> Vec<Option<u32>> {
    debug_assert!(writes.is_sorted());
    let mut order: Vec<(u64, Time, u32)> = reads.iter().enumerate().map(|(i, r)| (r.0, r.1, i as u32)).collect();
    sort_by_key_and_time(&mut order);
    let mut latest = vec![None; reads.len()];
    // The first write at or after the read: it only moves forward, as the sorted reads do.
    let mut at = 0;
    for (key, invoked, i) in order {
        while writes.get(at).is_some_and(|w| (w.0, w.1) < (key, invoked)) {
            at += 1;
        }
        latest[i as usize] = at.checked_sub(1).map(|j| writes[j]).filter(|w| w.0 == key).map(|w| w.2);
    }
    latest
}

/// Sorts `(key, time, index)` entries built with their indices ascending, as a sort of the whole
/// tuples would: a stable radix sort (`radsort`) by key alone, then each run of one key (a few
/// entries: most keys of a large key space are read or written once) by time and index. A
/// comparison sort of the tuples cost ~340 instructions an entry, a radix sort by key and time
/// ~230 (one sort by each), this ~120 (callgrind, 36,000 entries of the Dynamo cut's shape).
fn sort_by_key_and_time(entries: &mut [(u64, Time, u32)]) {
    debug_assert!(entries.windows(2).all(|w| w[0].2 < w[1].2), "indices must ascend");
    sim_core::lin::weak::group_by_key(entries, |e| e.0);
}

/// Which keys a disturbance of the `stale_reads` check can affect.
enum Reach {
    /// Every key: faults not tied to nodes (loss, one-way and bridge partitions, the majorities
    /// ring, a heal). Clock faults disturb no key (they are left out before this).
    All,
    /// Keys with one of these servers among their owners (a crash, pause or restart of it, or
    /// its isolation).
    Nodes(Vec<u32>),
    /// A split: group per listed node (clients included). Keys whose owners, or the clients, sit
    /// in different groups.
    Split(BTreeMap<u32, usize>, Vec<u32>),
    /// The ring change into this epoch: keys whose preference list it changes.
    Moved(usize),
}

impl Reach {
    fn of(f: &Fault, topo: &sim_core::Topology) -> Reach {
        match f {
            Fault::Crash { node, .. } | Fault::Pause(node) | Fault::Restart(node) | Fault::Resume(node) => {
                Reach::Nodes(vec![*node])
            }
            Fault::Partition(PartitionSpec::Isolate(node)) => Reach::Nodes(vec![*node]),
            Fault::Partition(PartitionSpec::Split(groups)) => {
                let label = groups.iter().enumerate().flat_map(|(g, ns)| ns.iter().map(move |&n| (n, g))).collect();
                Reach::Split(label, topo.clients.iter().map(|c| c.0).collect())
            }
            _ => Reach::All,
        }
    }

    /// `owners`: the key's preference list in each ring epoch of the run.
    fn disturbs(&self, owners: &[Vec<u32>]) -> bool {
        let all = || owners.iter().flatten().copied();
        match self {
            Reach::All => true,
            Reach::Nodes(ns) => all().any(|o| ns.contains(&o)),
            Reach::Split(label, clients) => {
                let mut groups = all().chain(clients.iter().copied()).filter_map(|x| label.get(&x));
                let first = groups.next();
                groups.any(|g| Some(g) != first)
            }
            Reach::Moved(epoch) => owners.get(*epoch) != owners.get(epoch - 1),
        }
    }
}

pub fn report(config: &Config, run: &RunView<'_, DynamoNode>) -> ModelReport {
    let mut r = ModelReport::default();
    let hist = run.history();
    let topo = run.topology();
    let servers = topo.servers.len() as u32;
    let n = config.replicas as usize;
    let end = run.end;
    // The ring in force when the run ends: the joins and leaves scheduled up to then (validation
    // refuses later ones; a run that has them anyway is judged on the ring it actually had).
    let members = ring_members(config, servers).swap_remove(epoch_at(config, end.0));
    let ring = build_ring(config, &members, config.vnodes);
    let server = |s: u32| run.sim.actor(NodeId(s)).and_then(|a| a.server());
    let local_now = |s: u32| run.sim.local_clock(NodeId(s)).0;
    // Per server: its weight in the final ring (0: not a member, left out of balance measures).
    let weights: Vec<f64> = (0..servers)
        .map(|s| if members.contains(&s) { *config.weights.get(&s).unwrap_or(&1) as f64 } else { 0.0 })
        .collect();

    // ---- what the checks need of the history, gathered in one pass (a pass streams every entry
    // of a history of hundreds of thousands)
    // A put's item (value) is its first attempt's op id + 1: tables indexed by it are dense.
    let mut keys: Vec<u64> = Vec::new();
    // The acknowledged puts, and the ok gets.
    let mut acked: Vec<&HistoryEntry> = Vec::new();
    let mut gets: Vec<&HistoryEntry> = Vec::new();
    // Per written value: its (last) attempt, which says when it was invoked and, if it is known,
    // completed (index + 1 into the history; 0: none).
    let mut last_put = vec![0u32; hist.len() + 1];
    for (i, e) in hist.iter().enumerate() {
        if e.kind == PUT {
            keys.push(e.key);
            if e.outcome == Some(Outcome::Ok) {
                acked.push(e);
            }
            if let Some(slot) = last_put.get_mut(e.value as usize) {
                *slot = i as u32 + 1;
            }
        } else if e.kind == GET && e.outcome == Some(Outcome::Ok) {
            gets.push(e);
        }
    }

    // ---- the final state of every key on its owners
    let mut hints_left = 0usize;
    for s in 0..servers {
        if let Some(sv) = server(s) {
            keys.extend(sv.keys());
            keys.extend(sv.hinted_keys());
            hints_left += sv.hint_count();
        }
    }
    // A radix sort (`radsort`): a comparison sort of these (every put's key and every replica's,
    // a few times the distinct keys) took twice the instructions and mispredicted a branch at
    // every other key (callgrind, 96,000 keys of the Dynamo cut's shape).
    radsort::sort(&mut keys);
    keys.dedup();
    let mut diverged: Vec<u64> = Vec::new();
    // Client merge: every (item, key) some owner of the key holds at the end.
    let mut found: Vec<(u64, u64)> = Vec::new();
    // Last-write-wins: per key (ascending), the item of the winning version.
    let mut winner: Vec<(u64, u64)> = Vec::new();
    let mut sets: Vec<(&[Sibling], u64)> = Vec::new();
    // The owners' live sets, each one equal to the previous owner's left out: a converged key's
    // owners share one set, whose versions are then read once, not once per owner.
    let mut distinct: Vec<(&[Sibling], u64)> = Vec::new();
    for &key in &keys {
        sets.clear();
        for &o in ring.preference_list(key, n) {
            if let Some(sv) = server(o) {
                sets.push((sv.own_set(key), local_now(o)));
            }
        }
        distinct.clear();
        for (i, set) in sets.iter().enumerate() {
            if i == 0 || !live(&sets[i - 1]).eq(live(set)) {
                distinct.push(*set);
            }
        }
        if distinct.len() > 1 {
            diverged.push(key);
        }
        match config.reconcile {
            Reconcile::ClientMerge => {
                found.extend(distinct.iter().flat_map(live).flat_map(|s| s.items.iter()).map(|v| (v, key)));
            }
            Reconcile::LastWriteWins => {
                let best = distinct
                    .iter()
                    .flat_map(live)
                    .max_by(|a, b| (a.stamp, &a.items, a.dot).cmp(&(b.stamp, &b.items, b.dot)));
                if let Some(w) = best {
                    winner.push((key, w.items.first().unwrap_or(0)));
                }
            }
        }
    }
    let winner_of = |key: u64| winner.binary_search_by_key(&key, |w| w.0).ok().map(|i| winner[i].1);
    // Client merge: per item, whether its key's owners hold it at the end. An item counts under
    // the key it was written to (carts merge within a key): its put's entry, `v - 1`, says which.
    // By item, so the history is read in order, not at random: a radix sort, as for the keys, by
    // item alone (what the reads find does not depend on the order; sorting by key too was a
    // second radix sort).
    radsort::sort_by_key(&mut found, |f| f.0);
    let mut held = vec![false; hist.len() + 1];
    for &(v, key) in &found {
        if hist.get((v as usize).wrapping_sub(1)).is_some_and(|e| e.key == key) {
            held[v as usize] = true;
        }
    }

    // ---- durability
    let expired = |e: &HistoryEntry| config.ttl.is_some_and(|t| e.complete.get().is_some_and(|c| c + t <= end));
    let put_of = |v: u64| match last_put.get(v as usize) {
        Some(&i) if i > 0 => Some(&hist[i as usize - 1]),
        _ => None,
    };
    let mut lost: Vec<&HistoryEntry> = Vec::new();
    let expired_count = acked.iter().filter(|e| expired(e)).count();
    for e in acked.iter().copied().filter(|e| !expired(e)) {
        let is_lost = match config.reconcile {
            Reconcile::ClientMerge => !held.get(e.value as usize).copied().unwrap_or(false),
            Reconcile::LastWriteWins => match winner_of(e.key) {
                None => true,
                Some(v) if v == e.value => false,
                Some(v) => {
                    // Lost when the winning write was over (acknowledged or failed) before `e` began.
                    let w = put_of(v);
                    w.is_some_and(|w| {
                        w.outcome != Some(Outcome::Timeout) && w.complete.get().is_some_and(|c| c < e.invoke)
                    })
                }
            },
        };
        if is_lost {
            lost.push(e);
        }
    }
    let listed: Vec<String> = lost
        .iter()
        .take(12)
        .map(|e| {
            format!(
                "key {} put op {} acked at {:.3}s{}",
                e.key,
                e.op.0,
                e.complete.get().unwrap_or(Time::ZERO).as_secs_f64(),
                match config.reconcile {
                    Reconcile::LastWriteWins =>
                        format!(" (final value: {})", sim_core::metrics::describe_value(winner_of(e.key).unwrap_or(0))),
                    Reconcile::ClientMerge => String::new(),
                }
            )
        })
        .collect();
    r.checks.push(
        Check::judged("durability", acked.len() - expired_count, "acknowledged writes")
            .skipped(expired_count, "expired under the TTL before the end")
            .violations(lost.len(), "lost")
            .detail(format!(
                "{:?}{}{}",
                config.reconcile,
                if listed.is_empty() { String::new() } else { format!(": {}", listed.join("; ")) },
                if lost.len() > listed.len() { ", ..." } else { "" }
            ))
            .blame_ops(lost.iter().copied()),
    );

    // ---- convergence
    let need_no_hints = config.hinted_handoff && config.sloppy_quorum;
    r.checks.push(
        Check::judged("convergence", keys.len(), "keys")
            .violations(diverged.len(), "differ across their owners at the end")
            .passed_if(!need_no_hints || hints_left == 0)
            .detail(format!(
                "{hints_left} hinted copies left undelivered{}",
                if diverged.is_empty() {
                    String::new()
                } else {
                    format!("; first keys that differ: {:?}", &diverged[..diverged.len().min(8)])
                }
            )),
    );

    // ---- staleness
    // Disturbances: each fault (as scheduled, until it is undone or the liveness phase heals it)
    // and each ring change up to the end, extended by `quiet_after_faults` (failure detectors,
    // hinted handoff and range moves catch up), and the keys each one can disturb: a fault those
    // of an owner it touches (or all keys, for faults not tied to nodes), a ring change the keys
    // whose preference list it changes. A read is judged unless it, or the latest write it must
    // see, overlaps a disturbance of its key: a fault that healed between the write and the read,
    // or one elsewhere in the cluster, does not excuse the read.
    let q = config.quiet_after_faults;
    let epochs: Vec<_> = ring_members(config, servers)
        .iter()
        .take(epoch_at(config, end.0) + 1)
        .map(|m| build_ring(config, m, config.vnodes))
        .collect();
    let mut disturbances: Vec<(Time, Time, Reach)> = run
        .sim
        .config()
        .faults
        .iter()
        // A clock fault moves no replica and delays no message: what it does to last-write-wins
        // is what the check exists to see.
        .filter(|f| !matches!(f.fault, Fault::ClockStep { .. } | Fault::ClockDrift { .. }))
        .map(|f| (Time(f.at.0), f.duration.map_or(run.main_end, |d| Time(f.at.0) + d), Reach::of(&f.fault, topo)))
        .collect();
    for (k, c) in config.membership.iter().enumerate().take(epochs.len() - 1) {
        disturbances.push((Time(c.at.0), Time(c.at.0), Reach::Moved(k + 1)));
    }
    for d in &mut disturbances {
        d.1 += q;
    }
    let mut owners_of: BTreeMap<u64, Vec<Vec<u32>>> = BTreeMap::new();
    let mut disturbed = |key: u64, a: Time, b: Time| {
        // The key's owners only when some disturbance overlaps in time (most reads meet none).
        if !disturbances.iter().any(|(s, e, _)| a < *e && *s < b) {
            return false;
        }
        let owners =
            owners_of.entry(key).or_insert_with(|| epochs.iter().map(|r| r.preference_list(key, n).to_vec()).collect());
        disturbances.iter().any(|(s, e, reach)| a < *e && *s < b && reach.disturbs(owners))
    };
    // The acknowledged puts by (key, completion, then history order): a key's puts are one run
    // of it. Kept as plain tuples, so the merge with the gets below reads this list alone, not
    // the history entries.
    let mut puts_by_key: Vec<(u64, Time, u32)> =
        acked.iter().enumerate().map(|(i, e)| (e.key, e.complete.get().expect("acked"), i as u32)).collect();
    sort_by_key_and_time(&mut puts_by_key);
    let lag_bounds_ms: Vec<f64> = config.lag_grid.iter().map(|d| d.as_millis_f64()).chain([f64::INFINITY]).collect();
    let mut lag_counts = vec![(0u64, 0u64); lag_bounds_ms.len()];
    let (mut checked, mut stale, mut quiet, mut stale_quiet) = (0u64, 0u64, 0u64, 0u64);
    let (mut unwritten, mut read_disturbed, mut write_disturbed) = (0u64, 0u64, 0u64);
    let mut stale_examples: Vec<String> = Vec::new();
    let mut stale_ops: Vec<&HistoryEntry> = Vec::new();
    let gets_at: Vec<(u64, Time)> = gets.iter().map(|g| (g.key, g.invoke)).collect();
    for (&g, p) in gets.iter().zip(latest_before(&puts_by_key, &gets_at)) {
        let Some(latest) = p.map(|p| acked[p as usize]) else {
            unwritten += 1;
            continue;
        };
        let newer = |v: u64| {
            put_of(v).is_some_and(|w| w.invoke >= latest.invoke || w.complete.get().is_none_or(|c| c >= latest.invoke))
        };
        // A shared cart is read where it is (a hot key's gets hold thousands of items each).
        let fresh = g.reply.contains(latest.value) || g.reply.iter().any(newer);
        checked += 1;
        let lag_ms = (g.invoke - latest.complete.get().expect("acked")).as_millis_f64();
        let b = lag_bounds_ms.iter().position(|&u| lag_ms < u).unwrap_or(lag_bounds_ms.len() - 1);
        lag_counts[b].0 += 1;
        lag_counts[b].1 += fresh as u64;
        stale += !fresh as u64;
        if disturbed(g.key, g.invoke, g.complete.get().unwrap_or(end)) {
            read_disturbed += 1;
            continue;
        }
        if disturbed(g.key, latest.invoke, latest.complete.get().expect("acked")) {
            write_disturbed += 1;
            continue;
        }
        quiet += 1;
        if !fresh {
            stale_quiet += 1;
            if stale_ops.len() < sim_core::model::MAX_BLAMED {
                stale_ops.push(g);
            }
            if stale_examples.len() < 5 {
                stale_examples.push(format!(
                    "get op {} of key {} at {:.3}s missed put op {} acked {:.1}ms before",
                    g.op.0,
                    g.key,
                    g.invoke.as_secs_f64(),
                    latest.op.0,
                    lag_ms
                ));
            }
        }
    }
    let frac = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    r.checks.push(
        Check::judged("stale_reads", quiet, "ok reads")
            .skipped(unwritten, "of keys with no write acknowledged before the read began")
            .skipped(read_disturbed, &format!("made during a disturbance of their key, or within {q} after one"))
            .skipped(
                write_disturbed,
                &format!("whose latest write was made during a disturbance of its key, or within {q} after one"),
            )
            .violations(stale_quiet, "stale")
            .detail(format!(
                "R={}, W={}, N={}; {stale} of {checked} stale over the whole run (a disturbance: a fault touching one \
                 of the key's owners, or a ring change moving the key){}",
                config.read_quorum,
                config.write_quorum,
                config.replicas,
                if stale_examples.is_empty() { String::new() } else { format!(": {}", stale_examples.join("; ")) }
            ))
            .blame_ops(stale_ops),
    );
    let mut lag_rows = Vec::new();
    let mut lo = 0.0;
    for (i, &(reads, fresh)) in lag_counts.iter().enumerate() {
        let hi = lag_bounds_ms[i];
        if reads > 0 {
            lag_rows.push(vec![lo, if hi.is_finite() { hi } else { -1.0 }, reads as f64, frac(fresh, reads)]);
        }
        lo = hi;
    }
    r.tables.push(
        Table::new("consistency_vs_lag", ["lag_ms_from", "lag_ms_to", "reads", "p_consistent"], lag_rows)
            .curve(
                "lag_ms_from",
                Axis::new("time since the write", "ms").log10(),
                &["p_consistent"],
                Axis::new("consistent reads", "share of reads").range(0.0, 1.0),
            )
            .binned("lag_ms_to")
            .note("reads"),
    );

    // ---- linearizability and session guarantees (see `consistency`)
    let (checks, figures) = crate::consistency::checks(config, run);
    r.checks.extend(checks);
    r.figures = figures;

    // ---- versions per read
    let mut by_versions = [0u64; 4];
    let mut versions_max = 0u64;
    let mut coordinator_requests = vec![0f64; servers as usize];
    for &c in &topo.clients {
        if let Some(cl) = run.sim.actor(c).and_then(|a| a.client()) {
            for (total, k) in by_versions.iter_mut().zip(cl.reads_by_versions) {
                *total += k;
            }
            versions_max = versions_max.max(cl.versions_max);
            for (s, &k) in cl.coordinator_requests.iter().enumerate() {
                coordinator_requests[s] += k as f64;
            }
        }
    }
    let reads: u64 = by_versions.iter().sum();
    let rows = (0..4).map(|i| vec![i as f64, by_versions[i] as f64, frac(by_versions[i], reads)]).collect();
    r.tables.push(
        Table::new("versions_per_read", ["versions", "reads", "share"], rows)
            .bars("versions", &["reads"], Axis::new("reads returning that many versions", "reads"))
            .labels(&["0", "1", "2", "3 or more"]),
    );

    // ---- load balance
    let mut keys_per_node = vec![0f64; servers as usize];
    for s in 0..servers {
        if let Some(sv) = server(s) {
            keys_per_node[s as usize] = sv.key_count() as f64;
        }
    }
    if config.balance_tables {
        balance_tables(config, run, &members, &weights, &mut r);
    }

    // ---- measures
    let counters = &run.sim.metrics().counters;
    let counter = |name: &str| counters.get(name).copied().unwrap_or(0) as f64;
    let m = &mut r.measures;
    m.insert("acked_writes".into(), acked.len() as f64);
    m.insert("lost_writes".into(), lost.len() as f64);
    m.insert("keys_diverged".into(), diverged.len() as f64);
    m.insert("hints_left".into(), hints_left as f64);
    m.insert("reads_checked".into(), checked as f64);
    m.insert("reads_judged_quiet".into(), quiet as f64);
    m.insert("stale_reads".into(), stale as f64);
    m.insert("stale_read_fraction".into(), frac(stale, checked));
    m.insert("stale_read_fraction_quiet".into(), frac(stale_quiet, quiet));
    m.insert("reads_with_siblings_fraction".into(), frac(by_versions[2] + by_versions[3], reads));
    m.insert("versions_max".into(), versions_max as f64);
    m.insert("keys_per_node_max_over_mean".into(), max_over_mean(&keys_per_node, &weights));
    m.insert("requests_per_node_max_over_mean".into(), max_over_mean(&coordinator_requests, &weights));
    let (ae, full) = (counter("ae_bytes"), counter("ae_bytes_full"));
    m.insert("ae_keys_repaired".into(), counter("ae_keys_repaired"));
    m.insert("ae_bytes".into(), ae);
    m.insert("ae_bytes_full".into(), full);
    m.insert("ae_bytes_saved_fraction".into(), if full > 0.0 { 1.0 - ae / full } else { 0.0 });
    m.insert("hinted_writes".into(), counter("hinted_writes"));
    m.insert("handoff_keys".into(), counter("handoff_keys"));
    m.insert("read_repair_keys_fixed".into(), counter("read_repair_keys_fixed"));
    r
}

/// Every key's ring position, ascending and once each (`positions`, sorted, has one per
/// operation), and before each key the operations of the keys before it (one more entry at the
/// end: all of them). Counts are whole numbers, exact in an `f64`, so a range's operations are a
/// difference of two of these.
fn placed_keys(positions: &[u64]) -> (Vec<u64>, Vec<f64>) {
    let mut placed = Vec::new();
    let mut ops_before = vec![0.0];
    for run in positions.chunk_by(|a, b| a == b) {
        placed.push(run[0]);
        ops_before.push(ops_before[ops_before.len() - 1] + run.len() as f64);
    }
    (placed, ops_before)
}

/// Per range of a ring with token positions `tokens` (ascending): its `(keys, operations)` of
/// the keys at `placed` ([`placed_keys`]). A key belongs to the first token at or after it (the
/// first token of all past the last one), so a range's keys are one run of `placed`, found by a
/// binary search per token: the rings of the balance tables have at most a few thousand tokens,
/// where a walk of every key per ring read a run's tens of thousands of keys a dozen times.
fn per_range(placed: &[u64], ops_before: &[f64], tokens: &[u64]) -> Vec<(f64, f64)> {
    let run = |from: usize, to: usize| ((to - from) as f64, ops_before[to] - ops_before[from]);
    let ends: Vec<usize> = tokens.iter().map(|&t| placed.partition_point(|&p| p <= t)).collect();
    let mut out: Vec<(f64, f64)> =
        (0..tokens.len()).map(|r| run(if r == 0 { 0 } else { ends[r - 1] }, ends[r])).collect();
    if let (Some(first), Some(&last)) = (out.first_mut(), ends.last()) {
        let (keys, ops) = run(last, placed.len());
        first.0 += keys;
        first.1 += ops;
    }
    out
}

/// The balance tables: `balance_vs_vnodes` (the run's strategy at 1 to 256 vnodes) and
/// `balance_by_partitioning` (the three strategies at the run's number of ranges), each averaged
/// over `config.rings` rings: ring share, keys held and primary requests per node, most loaded
/// over mean.
fn balance_tables(
    config: &Config,
    run: &RunView<'_, DynamoNode>,
    members: &[u32],
    weights: &[f64],
    r: &mut ModelReport,
) {
    let hist = run.history();
    let servers = run.topology().servers.len() as u32;
    let n = config.replicas as usize;
    // Every key's ring position with its operations, ascending: placing the keys on a ring is
    // then a merge with its tokens rather than a search per key and ring. One sort of positions:
    // a key's position is a bijection of it (`mix64`), so equal positions are one key.
    let mut positions: Vec<u64> = hist.iter().map(|e| Ring::key_position(e.key)).collect();
    radsort::sort(&mut positions);
    let (placed, ops_before) = placed_keys(&positions);
    // Each ring's balance: ring share, keys held, primary requests (most loaded / mean). Counts
    // are whole numbers, so summing them per range first changes no total.
    let seed = run.sim.config().seed;
    let salts: Vec<u64> =
        (0..config.rings as u64).map(|i| if i == 0 { 0 } else { sim_core::rng::mix64(seed ^ i << 40) }).collect();
    let balance = |v: u32, partitioning: Partitioning, salt: u64| -> [f64; 3] {
        let ring = ring_with(config, members, v, partitioning, salt);
        let tokens: Vec<u64> = (0..ring.token_count()).map(|r| ring.range_bounds(r).1).collect();
        let per_range = per_range(&placed, &ops_before, &tokens);
        let (mut k, mut q) = (vec![0f64; servers as usize], vec![0f64; servers as usize]);
        for (range, &(keys, ops)) in per_range.iter().enumerate().filter(|(_, x)| x.0 > 0.0) {
            let p = ring.head(range, n);
            for &o in p {
                k[o as usize] += keys;
            }
            q[p[0] as usize] += ops;
        }
        [max_over_mean(&ring.ownership(), weights), max_over_mean(&k, weights), max_over_mean(&q, weights)]
    };
    // Mean and standard deviation over the rings.
    let over_rings = |v: u32, partitioning: Partitioning| -> ([f64; 3], [f64; 3]) {
        let samples: Vec<[f64; 3]> = salts.iter().map(|&salt| balance(v, partitioning, salt)).collect();
        let n = samples.len() as f64;
        let mut mean = [0.0; 3];
        let mut sd = [0.0; 3];
        for i in 0..3 {
            mean[i] = samples.iter().map(|s| s[i]).sum::<f64>() / n;
            sd[i] = (samples.iter().map(|s| (s[i] - mean[i]).powi(2)).sum::<f64>() / n).sqrt();
        }
        (mean, sd)
    };
    // Strategy 3 has no tokens: its balance does not depend on vnodes.
    if !matches!(config.partitioning, Partitioning::EqualPartitions(_)) {
        let mut sweep = Vec::new();
        for v in [1u32, 2, 4, 8, 16, 32, 64, 128, 256] {
            let (mean, sd) = over_rings(v, config.partitioning);
            sweep.push(vec![v as f64, mean[0], mean[1], mean[2], sd[2]]);
        }
        let columns = [
            "vnodes_per_weight",
            "ring_share_max_over_mean",
            "keys_max_over_mean",
            "requests_max_over_mean",
            "requests_max_over_mean_sd",
        ];
        r.tables.push(Table::new("balance_vs_vnodes", columns, sweep).curve(
            "vnodes_per_weight",
            Axis::new("virtual nodes per unit of weight", "vnodes").log2(),
            &columns[1..4],
            Axis::new("most loaded node / mean", "ratio"),
        ));
    }
    // The three strategies at the same number of ranges (Q = the run's partitions, or the run's
    // token count), each averaged over the rings: load-balancing efficiency is mean / max load.
    let weight_sum: u32 = members.iter().map(|s| config.weights.get(s).copied().unwrap_or(1)).sum();
    let q = config.partitioning.partitions().unwrap_or((weight_sum * config.vnodes).clamp(1, 65_536));
    let strategies = [
        Partitioning::RandomTokens,
        Partitioning::EqualPartitionsRandomTokens(q),
        Partitioning::EqualPartitions(q.max(members.len() as u32)),
    ];
    let mut rows = Vec::new();
    for (i, &p) in strategies.iter().enumerate() {
        let samples: Vec<[f64; 3]> = salts.iter().map(|&salt| balance(config.vnodes, p, salt)).collect();
        let eff: Vec<f64> = samples.iter().map(|s| 1.0 / s[2]).collect();
        let n = eff.len() as f64;
        let mean = eff.iter().sum::<f64>() / n;
        let sd = (eff.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
        let min = eff.iter().copied().fold(f64::INFINITY, f64::min);
        let share = samples.iter().map(|s| s[0]).sum::<f64>() / n;
        rows.push(vec![(i + 1) as f64, q as f64, share, mean, sd, min]);
    }
    r.tables.push(
        Table::new(
            "balance_by_partitioning",
            [
                "strategy",
                "partitions or ranges",
                "ring_share_max_over_mean",
                "efficiency_mean_over_max",
                "efficiency_sd",
                "efficiency_min",
            ],
            rows,
        )
        .names("strategy", &strategies.map(|p| p.name())),
    );
    r.measures.insert("balance_rings".into(), salts.len() as f64);
}

#[cfg(test)]
mod tests {
    use super::{latest_before, per_range, placed_keys, sort_by_key_and_time};
    use sim_core::Time;
    use sim_core::rng::mix64;

    /// The merge against a binary search per read, on random writes and reads over few keys and
    /// times (so that ties between reads and writes, and keys with no write, are common).
    #[test]
    fn latest_before_matches_a_search_per_read() {
        for case in 0..200u64 {
            let draw = |i: u64, m: u64| mix64((case << 32) ^ i) % m;
            let keys = 1 + draw(0, 6);
            let mut writes: Vec<(u64, Time, u32)> =
                (0..draw(1, 40)).map(|i| (draw(2 * i + 10, keys), Time(draw(2 * i + 11, 20)), i as u32)).collect();
            writes.sort_unstable();
            let reads: Vec<(u64, Time)> =
                (0..draw(2, 40)).map(|i| (draw(2 * i + 1000, keys + 1), Time(draw(2 * i + 1001, 20)))).collect();
            let expected: Vec<Option<u32>> = reads
                .iter()
                .map(|&(key, at)| {
                    let i = writes.partition_point(|w| (w.0, w.1) < (key, at));
                    i.checked_sub(1).map(|i| writes[i]).filter(|w| w.0 == key).map(|w| w.2)
                })
                .collect();
            assert_eq!(latest_before(&writes, &reads), expected, "case {case}");
        }
    }

    /// The radix sort by key, then by time and index within a key, orders entries built in index
    /// order exactly as a sort of the whole tuples: on random entries over few keys and times (many ties, broken by index),
    /// and over keys and times spanning every byte (each byte of the radix sort's passes).
    #[test]
    fn sorting_by_key_and_time_matches_a_sort_of_whole_tuples() {
        for case in 0..200u64 {
            let draw = |i: u64, m: u64| mix64((case << 32) ^ i) % m;
            let (keys, times) = if case % 2 == 0 { (1 + draw(0, 5), 1 + draw(1, 8)) } else { (u64::MAX, u64::MAX) };
            let mut entries: Vec<(u64, Time, u32)> =
                (0..draw(2, 300)).map(|i| (draw(2 * i + 10, keys), Time(draw(2 * i + 11, times)), i as u32)).collect();
            let mut expected = entries.clone();
            expected.sort_unstable();
            sort_by_key_and_time(&mut entries);
            assert_eq!(entries, expected, "case {case}");
        }
    }

    /// The ranges' keys and operations by a binary search per token against a walk of every
    /// operation's position in order (each to the first token at or after it, the first token
    /// past the last), on random positions and tokens drawn from a small space (so that keys
    /// share positions, sit on tokens, and fall before the first token and after the last).
    #[test]
    fn per_range_matches_a_walk_of_every_key() {
        for case in 0..300u64 {
            let draw = |i: u64, m: u64| mix64((case << 32) ^ i) % m;
            let space = 1 + draw(0, 50);
            let mut positions: Vec<u64> = (0..draw(1, 80)).map(|i| draw(i + 100, space)).collect();
            positions.sort_unstable();
            let mut tokens: Vec<u64> = (0..1 + draw(2, 10)).map(|i| draw(i + 10_000, space)).collect();
            tokens.sort_unstable();
            let mut expected = vec![(0f64, 0f64); tokens.len()];
            for (i, &p) in positions.iter().enumerate() {
                let r = tokens.iter().position(|&t| t >= p).unwrap_or(0);
                // A key counts once, at its first operation.
                expected[r].0 += (i == 0 || positions[i - 1] != p) as u8 as f64;
                expected[r].1 += 1.0;
            }
            let (placed, ops_before) = placed_keys(&positions);
            assert_eq!(per_range(&placed, &ops_before, &tokens), expected, "case {case}: {positions:?} {tokens:?}");
        }
    }
}
