//! A detached world for unit tests of parts: a clock, a random stream, a durable log, an outage
//! and the effects the handlers recorded, with no simulation behind them.

use sim_core::fault::OutageMode;
use sim_core::{Actor, Ctx, Effect, IdSource, Message, NodeId, Prng, Stream, Time};
use std::marker::PhantomData;

/// A host actor whose messages and timers are exactly one part's `M` and `T`, for handler tests
/// of that part (its handlers run on a [`Bench`] and never on a world).
#[derive(Debug)]
pub struct PartHost<M, T, R = ()>(PhantomData<(M, T, R)>);

impl<M: Message, T: Clone + std::fmt::Debug + 'static, R: Clone + std::fmt::Debug + 'static> Actor
    for PartHost<M, T, R>
{
    type Msg = M;
    type Timer = T;
    type Record = R;
    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    fn on_msg(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: M) {}
}

/// The message type of a host whose part sends nothing.
#[derive(Clone, Debug)]
pub struct NoMsg;

impl Message for NoMsg {
    fn kind(&self) -> &'static str {
        "none"
    }
}

/// Timers set `(after, timer)`, and the other effects.
pub type Drained<A> = (Vec<(sim_core::Duration, <A as Actor>::Timer)>, Vec<Effect<A>>);

pub struct Bench<A: Actor> {
    pub node: NodeId,
    pub now: Time,
    pub rng: Prng,
    pub ids: IdSource,
    /// What `ctx.durable()` returns (a restart's recovery reads it).
    pub durable: Vec<A::Record>,
    /// What `ctx.outage()` returns.
    pub outage: Option<OutageMode>,
    /// What `ctx.is_restart()` returns.
    pub restarted: bool,
    /// How far the wall clock (`ctx.now()`) was stepped from `now`, the monotonic and true time.
    pub wall_step_ns: i64,
    pub fx: Vec<Effect<A>>,
}

impl<A: Actor> Bench<A> {
    pub fn new() -> Self {
        Bench {
            node: NodeId(9),
            now: Time(0),
            rng: Prng::new(3, Stream::Setup),
            ids: IdSource::default(),
            durable: Vec::new(),
            outage: None,
            restarted: false,
            wall_step_ns: 0,
            fx: Vec::new(),
        }
    }

    /// Runs `f` with a context at the bench's current time.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Ctx<'_, A>) -> R) -> R {
        let mut ctx = Ctx::detached(self.node, self.now, &mut self.rng, &mut self.ids, &self.durable, &mut self.fx)
            .with_outage(self.outage)
            .with_restart(self.restarted)
            .with_wall_step(self.wall_step_ns);
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
