//! Histories that are linearizable by construction, for the checker's benchmark and tests.
//!
//! Each client runs operations one after another (think time, then an operation whose latency is
//! exponential); each operation takes effect at a point drawn uniformly inside its interval, and
//! the outputs are what a register per key answers when the operations are applied in the order
//! of those points. A share of writes time out: their outcome is unknown, and half of them took
//! effect (at their point) while the other half never did.

use super::{Operation, RegOp, RegRet, Ret};
use crate::rng::{Prng, Stream};
use crate::time::Time;
use std::collections::BTreeMap;

/// The shape of a generated register history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub ops: usize,
    pub keys: u64,
    pub clients: u32,
    /// Mean operation latency and think time, in nanoseconds.
    pub latency_mean_ns: f64,
    pub think_mean_ns: f64,
    pub read_share: f64,
    /// Share of writes whose outcome is unknown.
    pub timeout_share: f64,
}

impl Shape {
    /// 100,000 operations on 100 keys by 200 clients: 1 ms latency, 1 ms think time, so about
    /// 100 operations are in flight at any time, one per key on average.
    pub fn bench() -> Shape {
        Shape {
            ops: 100_000,
            keys: 100,
            clients: 200,
            latency_mean_ns: 1e6,
            think_mean_ns: 1e6,
            read_share: 0.7,
            timeout_share: 0.01,
        }
    }
}

impl Shape {
    /// Heavy overlap: 20,000 operations on 10 keys by 400 clients with 20 ms latency and 1 ms
    /// think time, so about 38 operations are in flight per key. A linearizable history of this
    /// shape is still checked quickly; a non-linearizable one makes the search try the orders of
    /// every overlapping window, which is where the state budget answers `Unknown`.
    pub fn contended() -> Shape {
        Shape { ops: 20_000, keys: 10, clients: 400, latency_mean_ns: 20e6, ..Shape::bench() }
    }
}

/// Makes `history` non-linearizable on one key: the last read with a known output (its key's
/// last) returns the value of the first completed write of its key, long overwritten. Returns
/// the read's id and key; `None` if no read follows two completed writes of its key.
pub fn stale_read(history: &mut [Operation<RegOp, RegRet>]) -> Option<(u64, u64)> {
    let (i, key) = history
        .iter()
        .enumerate()
        .rev()
        .find(|(_, o)| o.input == RegOp::Read && o.output().is_some())
        .map(|(i, o)| (i, o.key))?;
    let at = history[i].complete()?;
    let mut writes = history.iter().filter(|o| {
        o.key == key && matches!(o.input, RegOp::Write(_)) && o.complete().is_some_and(|c| c < history[i].invoke)
    });
    let first = writes.next()?;
    writes.next()?;
    let RegOp::Write(v) = first.input else { unreachable!("a write") };
    history[i].ret = Ret::Ok { at, output: RegRet::Value(v) };
    Some((history[i].id, key))
}

/// A linearizable register history of `shape`, a pure function of `seed`.
pub fn register_history(shape: &Shape, seed: u64) -> Vec<Operation<RegOp, RegRet>> {
    let mut rng = Prng::new(seed, Stream::Setup);
    let per_client = shape.ops.div_ceil(shape.clients.max(1) as usize);
    // (linearization point or None if never, op)
    let mut ops: Vec<(Option<u64>, Operation<RegOp, RegRet>)> = Vec::with_capacity(shape.ops);
    'clients: for client in 0..shape.clients {
        let mut t = rng.exp(shape.think_mean_ns) as u64;
        for _ in 0..per_client {
            if ops.len() == shape.ops {
                break 'clients;
            }
            let id = ops.len() as u64;
            let invoke = t;
            let complete = invoke + 1 + rng.exp(shape.latency_mean_ns) as u64;
            let point = invoke + rng.below(complete - invoke + 1);
            let key = rng.below(shape.keys);
            let read = rng.chance(shape.read_share);
            let input = if read { RegOp::Read } else { RegOp::Write(id + 1) };
            let unknown = !read && rng.chance(shape.timeout_share);
            let took_effect = !unknown || rng.chance(0.5);
            let ret = if unknown { Ret::Unknown } else { Ret::Ok { at: Time(complete), output: RegRet::Done } };
            ops.push((took_effect.then_some(point), Operation { id, client, key, invoke: Time(invoke), input, ret }));
            t = complete + rng.exp(shape.think_mean_ns) as u64;
        }
    }
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].0.is_some()).collect();
    order.sort_by_key(|&i| (ops[i].0, i));
    let mut registers: BTreeMap<u64, u64> = BTreeMap::new();
    for i in order {
        let op = &mut ops[i].1;
        let value = registers.entry(op.key).or_insert(0);
        match op.input {
            RegOp::Write(v) => *value = v,
            RegOp::Read => {
                if let Ret::Ok { output, .. } = &mut op.ret {
                    *output = RegRet::Value(*value);
                }
            }
            RegOp::Cas(..) => unreachable!("not generated"),
        }
    }
    ops.into_iter().map(|(_, op)| op).collect()
}
