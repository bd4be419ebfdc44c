//! A detached world for unit tests of parts: a clock, a random stream and the effects the
//! handlers recorded, with no simulation behind them.

use sim_core::{Actor, Ctx, Effect, IdSource, NodeId, Prng, Stream, Time};

/// Timers set `(after, timer)`, and the other effects.
pub type Drained<A> = (Vec<(sim_core::Duration, <A as Actor>::Timer)>, Vec<Effect<A>>);

pub struct Bench<A: Actor> {
    pub node: NodeId,
    pub now: Time,
    pub rng: Prng,
    pub ids: IdSource,
    pub fx: Vec<Effect<A>>,
}

impl<A: Actor> Bench<A> {
    pub fn new() -> Self {
        Bench {
            node: NodeId(9),
            now: Time(0),
            rng: Prng::new(3, Stream::Setup),
            ids: IdSource::default(),
            fx: Vec::new(),
        }
    }

    /// Runs `f` with a context at the bench's current time.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Ctx<'_, A>) -> R) -> R {
        let mut ctx = Ctx::detached(self.node, self.now, &mut self.rng, &mut self.ids, &[], &mut self.fx);
        f(&mut ctx)
    }

    /// The timers set since the last drain, as `(after, timer)`, and every other effect.
    pub fn drain(&mut self) -> Drained<A> {
        let (mut timers, mut rest) = (Vec::new(), Vec::new());
        for e in self.fx.drain(..) {
            match e {
                Effect::SetTimer { after, timer, .. } => timers.push((after, timer)),
                other => rest.push(other),
            }
        }
        (timers, rest)
    }
}
