//! A producer: each record to its partition's leader, retried after a timeout, a refusal, or while
//! the partition has no leader.

use super::*;

#[derive(Debug)]
struct Pending<T> {
    p: Pid,
    rec: Record,
    token: T,
    attempt: u32,
    started: Time,
    timer: Option<TimerId>,
}

/// A produce that is over: acknowledged at `(partition, offset)`, or failed.
#[derive(Debug, PartialEq, Eq)]
pub struct Produced<T> {
    pub token: T,
    pub result: Result<(Pid, u64), ProduceError>,
    pub attempts: u32,
}

/// A producer: sends each record to its partition's leader; retries (same record, possibly
/// appended twice) after a timeout, a refusal or while the partition has no leader.
#[derive(Debug)]
pub struct Producer<T> {
    c: Rc<Cluster>,
    scope: &'static str,
    leaders: Vec<Option<NodeId>>,
    pending: BTreeMap<u64, Pending<T>>,
    next_req: u64,
    meta_asked: Option<Time>,
    pub stats: LogStats,
}

impl<T> Producer<T> {
    pub fn new(c: Rc<Cluster>, scope: &'static str) -> Producer<T> {
        let n = c.partitions() as usize;
        Producer {
            c,
            scope,
            leaders: vec![None; n],
            pending: BTreeMap::new(),
            next_req: 0,
            meta_asked: None,
            stats: LogStats::default(),
        }
    }

    pub fn start<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.ask_meta(ctx);
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn ask_meta<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.monotonic();
        if self.meta_asked.is_none_or(|t| now.since(t) >= self.c.spec.retry_backoff) {
            self.meta_asked = Some(now);
            send(ctx, self.c.coordinator, Msg::MetaReq);
        }
    }

    /// Produces `value` with `key` to `topic`; the [`Produced`] comes back from `on_msg` or
    /// `on_timer` (or at once if it fails at once).
    pub fn produce<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, topic: u16, key: u64, value: u64, token: T) {
        let p = self.c.partition_of(topic, key);
        let req = self.next_req;
        self.next_req += 1;
        // The record's timestamp is the wall clock's (Kafka's CreateTime); the wait, elapsed time.
        let rec = Record { key, value, produced: ctx.now(), bytes: self.c.spec.record_bytes };
        self.pending.insert(req, Pending { p, rec, token, attempt: 0, started: ctx.monotonic(), timer: None });
        self.attempt(ctx, req);
    }

    fn attempt<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, req: u64) {
        let pd = self.pending.get_mut(&req).expect("pending");
        pd.attempt += 1;
        let attempt = pd.attempt;
        if attempt > 1 {
            self.stats.produce_retries += 1;
            ctx.count_in(self.scope, "produce_retries", 1);
        }
        match self.leaders[pd.p as usize] {
            Some(l) => {
                send(ctx, l, Msg::Produce { req, p: pd.p, rec: pd.rec });
                pd.timer = Some(timer(ctx, self.c.spec.request_timeout, Timer::ProduceTimeout { req, attempt }));
            }
            None => {
                pd.timer = Some(timer(ctx, self.c.spec.retry_backoff, Timer::ProduceRetry { req, attempt }));
                self.ask_meta(ctx);
            }
        }
    }

    /// The attempt failed: retry after the backoff, or give up.
    fn fail<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, req: u64) -> Option<Produced<T>> {
        self.ask_meta(ctx);
        let pd = self.pending.get_mut(&req).expect("pending");
        if pd.attempt > self.c.spec.retries {
            let pd = self.pending.remove(&req).unwrap();
            self.stats.produce_failed += 1;
            ctx.count_in(self.scope, "produce_failed", 1);
            return Some(Produced { token: pd.token, result: Err(ProduceError::Failed), attempts: pd.attempt });
        }
        let attempt = pd.attempt;
        pd.timer = Some(timer(ctx, self.c.spec.retry_backoff, Timer::ProduceRetry { req, attempt }));
        None
    }

    pub fn on_msg<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, msg: &Msg) -> Option<Produced<T>> {
        match msg {
            Msg::Meta { parts } => {
                for (l, m) in self.leaders.iter_mut().zip(parts.iter()) {
                    *l = m.leader;
                }
                None
            }
            Msg::ProduceReply { req, offset } => {
                let pd = self.pending.get(req)?;
                // A reply to an earlier attempt counts too (the record is in the log either way).
                let timer_id = pd.timer;
                match offset {
                    Some(o) => {
                        if let Some(t) = timer_id {
                            ctx.cancel_timer(t);
                        }
                        let pd = self.pending.remove(req).unwrap();
                        self.stats.produced += 1;
                        ctx.count_in(self.scope, "produced", 1);
                        Some(Produced { token: pd.token, result: Ok((pd.p, *o)), attempts: pd.attempt })
                    }
                    None => {
                        ctx.count_in(self.scope, "not_leader", 1);
                        if let Some(t) = timer_id {
                            ctx.cancel_timer(t);
                        }
                        self.leaders[pd.p as usize] = None;
                        self.fail(ctx, *req)
                    }
                }
            }
            _ => None,
        }
    }

    pub fn on_timer<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) -> Option<Produced<T>> {
        match t {
            Timer::ProduceTimeout { req, attempt } => {
                let pd = self.pending.get_mut(&req)?;
                if pd.attempt != attempt {
                    return None;
                }
                pd.timer = None;
                let p = pd.p;
                self.leaders[p as usize] = None;
                self.fail(ctx, req)
            }
            Timer::ProduceRetry { req, attempt } => {
                let pd = self.pending.get(&req)?;
                if pd.attempt == attempt {
                    self.attempt(ctx, req);
                }
                None
            }
            _ => None,
        }
    }

    /// How long the oldest pending produce has waited by `now` on the monotonic clock.
    pub fn oldest(&self, now: Time) -> Option<Duration> {
        self.pending.values().map(|p| now.since(p.started)).max()
    }
}
