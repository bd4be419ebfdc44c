//! Sequential specifications: what one object does when operations are applied one at a time.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;

/// A sequential object. `step` applies one operation to a state and says whether the observed
/// output is what the object would have answered; `output == None` is an operation of unknown
/// outcome that took effect (its answer was never seen).
pub trait Spec {
    type State: Clone + Ord + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug + PartialEq;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after `input`, if `output` is a possible answer in `state`; `None` otherwise.
    fn step(&self, state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Option<Self::State>;
    /// Whether an operation of unknown outcome with this input can change the state (one that
    /// cannot, a read, is dropped from the history).
    fn mutates(&self, _input: &Self::Input) -> bool {
        true
    }
    /// Of a key's operations `ops`, which of those with unknown outcome can be left out without
    /// changing the verdict (`true` at their index). Each left-out operation prunes the search,
    /// whose size grows with the subsets of unknown operations that took effect. Default: none.
    fn prunable_unknown(&self, ops: &[&super::Operation<Self::Input, Self::Output>]) -> Vec<bool> {
        vec![false; ops.len()]
    }
    /// Whether an operation (`input`, `output`) can only be explained by an operation `writer`
    /// (a read that returned a value needs the write of that value). The minimiser never keeps
    /// the first without the second, so the sub-history it shows is not trivially wrong.
    fn needs(&self, _input: &Self::Input, _output: Option<&Self::Output>, _writer: &Self::Input) -> bool {
        false
    }
    /// The element a mutating operation acts on, for an object that is a product of independent
    /// elements (a set: each element is in it or not, whatever the others do). `None` (the
    /// default): the object cannot be seen element by element.
    fn element(&self, _input: &Self::Input) -> Option<u64> {
        None
    }
    /// The operation seen through the elements `keep` only (sorted): a mutation of another
    /// element is `None` (it changes nothing there), a read answers its elements in `keep`. For
    /// an object of independent elements an order that linearizes the history linearizes every
    /// such restriction, so a restriction with no linearization is a violation of the whole: the
    /// minimiser tries restrictions to one or two elements first, where a read of a large set
    /// would otherwise need every write whose element it returned.
    fn restrict(
        &self,
        input: &Self::Input,
        output: Option<&Self::Output>,
        _keep: &[u64],
    ) -> Option<(Self::Input, Option<Self::Output>)> {
        Some((input.clone(), output.cloned()))
    }
}

/// A read/write register holding a `u64` (0: never written), with compare-and-set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    Read,
    Write(u64),
    /// Compare-and-set: if the value is `.0`, make it `.1`.
    Cas(u64, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegRet {
    /// A read's value.
    Value(u64),
    /// A write's acknowledgement.
    Done,
    /// Whether a compare-and-set succeeded.
    Cas(bool),
}

impl Spec for Register {
    type State = u64;
    type Input = RegOp;
    type Output = RegRet;
    fn init(&self) -> u64 {
        0
    }
    fn step(&self, s: &u64, input: &RegOp, output: Option<&RegRet>) -> Option<u64> {
        match (input, output) {
            (RegOp::Read, None) => Some(*s),
            (RegOp::Read, Some(RegRet::Value(v))) => (v == s).then_some(*s),
            (RegOp::Write(v), None | Some(RegRet::Done)) => Some(*v),
            // An unknown compare-and-set that took effect succeeded (one that failed changed nothing,
            // the same as not linearizing it at all).
            (RegOp::Cas(e, n), None | Some(RegRet::Cas(true))) => (e == s).then_some(*n),
            (RegOp::Cas(e, _), Some(RegRet::Cas(false))) => (e != s).then_some(*s),
            _ => None,
        }
    }
    fn mutates(&self, input: &RegOp) -> bool {
        !matches!(input, RegOp::Read)
    }
    /// A write of unknown outcome whose value no operation saw: if it took effect, it only hid
    /// the value before it until the next write, and every read in between would have returned
    /// its value, which none did; leaving it out keeps every linearization valid. Not so when a
    /// compare-and-set failed on the key (it may have failed because of that write), or when the
    /// values are not unique (another write's value may be the one seen).
    fn prunable_unknown(&self, ops: &[&super::Operation<RegOp, RegRet>]) -> Vec<bool> {
        let mut seen = std::collections::BTreeSet::new();
        let mut written = std::collections::BTreeSet::new();
        let mut unique = true;
        for op in ops {
            match (op.input, op.output()) {
                (RegOp::Cas(..), Some(RegRet::Cas(false))) => return vec![false; ops.len()],
                (RegOp::Read, Some(RegRet::Value(v))) => {
                    seen.insert(*v);
                }
                (RegOp::Cas(v, _), Some(RegRet::Cas(true))) => {
                    seen.insert(v);
                }
                _ => {}
            }
            if let RegOp::Write(v) | RegOp::Cas(_, v) = op.input {
                unique &= written.insert(v);
            }
        }
        ops.iter()
            .map(|op| unique && op.output().is_none() && matches!(op.input, RegOp::Write(v) if !seen.contains(&v)))
            .collect()
    }
    fn needs(&self, input: &RegOp, output: Option<&RegRet>, writer: &RegOp) -> bool {
        let seen = match (input, output) {
            (RegOp::Read, Some(RegRet::Value(v))) => *v,
            (RegOp::Cas(e, _), Some(RegRet::Cas(true))) => *e,
            _ => return false,
        };
        seen != 0 && matches!(writer, RegOp::Write(v) | RegOp::Cas(_, v) if *v == seen)
    }
}

/// A set of `u64`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Add(u64),
    Remove(u64),
    /// Reads the whole set.
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetRet {
    Done,
    /// The elements, in increasing order.
    Elements(Vec<u64>),
}

impl Spec for Set {
    type State = BTreeSet<u64>;
    type Input = SetOp;
    type Output = SetRet;
    fn init(&self) -> BTreeSet<u64> {
        BTreeSet::new()
    }
    fn step(&self, s: &BTreeSet<u64>, input: &SetOp, output: Option<&SetRet>) -> Option<BTreeSet<u64>> {
        match (input, output) {
            (SetOp::Add(x), None | Some(SetRet::Done)) => {
                let mut t = s.clone();
                t.insert(*x);
                Some(t)
            }
            (SetOp::Remove(x), None | Some(SetRet::Done)) => {
                let mut t = s.clone();
                t.remove(x);
                Some(t)
            }
            (SetOp::Read, None) => Some(s.clone()),
            (SetOp::Read, Some(SetRet::Elements(e))) => s.iter().eq(e.iter()).then(|| s.clone()),
            _ => None,
        }
    }
    fn mutates(&self, input: &SetOp) -> bool {
        !matches!(input, SetOp::Read)
    }
    fn needs(&self, input: &SetOp, output: Option<&SetRet>, writer: &SetOp) -> bool {
        match (input, output, writer) {
            (SetOp::Read, Some(SetRet::Elements(e)), SetOp::Add(x)) => e.binary_search(x).is_ok(),
            _ => false,
        }
    }
    fn element(&self, input: &SetOp) -> Option<u64> {
        match *input {
            SetOp::Add(x) | SetOp::Remove(x) => Some(x),
            SetOp::Read => None,
        }
    }
    fn restrict(&self, input: &SetOp, output: Option<&SetRet>, keep: &[u64]) -> Option<(SetOp, Option<SetRet>)> {
        match (input, output) {
            (SetOp::Add(x) | SetOp::Remove(x), _) if keep.binary_search(x).is_err() => None,
            (SetOp::Read, Some(SetRet::Elements(e))) => {
                let seen = e.iter().copied().filter(|x| keep.binary_search(x).is_ok()).collect();
                Some((SetOp::Read, Some(SetRet::Elements(seen))))
            }
            _ => Some((*input, output.cloned())),
        }
    }
}

/// A counter: additions (possibly negative), reads, and additions that return the new value
/// (fetch-and-add, Redis' `INCRBY`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterOp {
    Add(i64),
    Read,
    /// Adds and answers the new value ([`CounterRet::Value`]).
    AddGet(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterRet {
    Done,
    Value(i64),
}

impl Spec for Counter {
    type State = i64;
    type Input = CounterOp;
    type Output = CounterRet;
    fn init(&self) -> i64 {
        0
    }
    fn step(&self, s: &i64, input: &CounterOp, output: Option<&CounterRet>) -> Option<i64> {
        match (input, output) {
            (CounterOp::Add(d), None | Some(CounterRet::Done)) => Some(s.wrapping_add(*d)),
            (CounterOp::Read, None) => Some(*s),
            (CounterOp::Read, Some(CounterRet::Value(v))) => (v == s).then_some(*s),
            (CounterOp::AddGet(d), None) => Some(s.wrapping_add(*d)),
            (CounterOp::AddGet(d), Some(CounterRet::Value(v))) => (s.wrapping_add(*d) == *v).then_some(*v),
            _ => None,
        }
    }
    fn mutates(&self, input: &CounterOp) -> bool {
        !matches!(input, CounterOp::Read)
    }
}

/// A FIFO queue of `u64`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Queue;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOp {
    Enqueue(u64),
    Dequeue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueRet {
    Done,
    /// A dequeue's element (`None`: the queue was empty).
    Dequeued(Option<u64>),
}

impl Spec for Queue {
    type State = VecDeque<u64>;
    type Input = QueueOp;
    type Output = QueueRet;
    fn init(&self) -> VecDeque<u64> {
        VecDeque::new()
    }
    fn step(&self, s: &VecDeque<u64>, input: &QueueOp, output: Option<&QueueRet>) -> Option<VecDeque<u64>> {
        match (input, output) {
            (QueueOp::Enqueue(x), None | Some(QueueRet::Done)) => {
                let mut t = s.clone();
                t.push_back(*x);
                Some(t)
            }
            (QueueOp::Dequeue, None) => {
                let mut t = s.clone();
                t.pop_front();
                Some(t)
            }
            (QueueOp::Dequeue, Some(QueueRet::Dequeued(x))) => {
                if s.front() != x.as_ref() {
                    return None;
                }
                let mut t = s.clone();
                t.pop_front();
                Some(t)
            }
            _ => None,
        }
    }
    fn needs(&self, input: &QueueOp, output: Option<&QueueRet>, writer: &QueueOp) -> bool {
        matches!((input, output, writer), (QueueOp::Dequeue, Some(QueueRet::Dequeued(Some(x))), QueueOp::Enqueue(y)) if x == y)
    }
}
