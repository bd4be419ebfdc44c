//! Test helpers shared by the parts' unit tests: a detached world for one node's handlers.

use sim_core::fault::OutageMode;
use sim_core::{Actor, Ctx, Effect, IdSource, NodeId, Prng, Stream, Time};

/// A detached world for handler tests: one node's clock, random stream, id source, durable log
/// and outage, and the effects its handlers recorded (drain them with `fx.drain(..)`).
pub struct Bench<A: Actor> {
    pub node: NodeId,
    pub now: Time,
    pub rng: Prng,
    pub ids: IdSource,
    pub durable: Vec<A::Record>,
    pub outage: Option<OutageMode>,
    pub fx: Vec<Effect<A>>,
}

impl<A: Actor> Bench<A> {
    pub fn new(node: NodeId, seed: u64) -> Bench<A> {
        Bench {
            node,
            now: Time::ZERO,
            rng: Prng::new(seed, Stream::Setup),
            ids: IdSource::default(),
            durable: Vec::new(),
            outage: None,
            fx: Vec::new(),
        }
    }

    /// Runs `f` with a context of this node at `now`.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Ctx<'_, A>) -> R) -> R {
        let mut ctx = Ctx::detached(self.node, self.now, &mut self.rng, &mut self.ids, &self.durable, &mut self.fx)
            .with_outage(self.outage);
        f(&mut ctx)
    }
}
