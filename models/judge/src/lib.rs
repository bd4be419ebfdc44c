//! # judge: an online judge (LeetCode) at the start of a contest
//!
//! The notes' design (system O): users submit code (`POST /problems/:id/submit`), the API puts
//! the submission on a **queue** and answers at once with its id; **isolated runners** (containers
//! on an autoscaling group of VMs) take submissions from the queue, run them against the problem's
//! tests and write the verdict; the client **polls** `GET /check/:id` until the verdict is there;
//! a **live leaderboard** ranks the contest's users. Requirements: a result within 5 s, a contest
//! of 100,000 users. The question is the contest start: every user submits at once (a flash
//! crowd), then the rate decays. The notes: "how to support 100,000 users? Horizontal
//! auto-scaling with a queue; async but polling".
//!
//! **Built from parts.** The queue is [`parts::log`] (a replicated, partitioned log; runners are
//! one consumer group), the runners are [`parts::workers`] (each runner node a [`Worker`] with
//! `concurrency` sandboxes, a [`Scaler`] on the control node aiming at a backlog per runner, with
//! a cold start), and every request a node makes goes through [`parts::calls`] (timeouts,
//! retries): the clients' submits and polls, the runners' verdict writes, and (without the queue)
//! the API's dispatches to runners. The design's own code is the protocol around them and the
//! leaderboard.
//!
//! **Nodes.** Servers: the control node (0: the log's coordinator and the runners' scaler), the
//! brokers, the API server (which also holds the results table and the leaderboard: the notes'
//! database, one node here), then the runner nodes (as many as the servers leave: the autoscaling
//! group's ceiling). Clients are the users' browsers: a `submit` operation is one submission by
//! user `key`, with id `value`; it completes `Ok` when a poll returns the verdict, with
//! `Reply::Values([accepted, submitted_at_ns])`, so its latency is the time the user waited for
//! the result (from the intended submission, polling included).
//!
//! **A submission's way.** The client calls `Submit` (retried on timeout or refusal: the
//! submission id is the client's, so a retry is the same submission). The API stamps it (the
//! submission time the leaderboard uses), produces it to the log keyed by user, and answers once
//! the log has it on `acks` disks; the client then polls every `poll_every`, for at most
//! `poll_for`. A runner that the scaler started joins the consumer group after its cold start,
//! takes submissions while a sandbox is free, runs each for a time drawn from the problem's
//! distribution times the language's factor, and calls `Verdict` on the API until the API has it
//! on disk; only then is the record done, so its offset may be committed. **A runner crash loses
//! the runs in progress** with the node; their offsets were not committed, so after the group's
//! rebalance the log delivers them again and another runner runs them (at-least-once). A
//! scale-in or a rebalance redelivers too. So a submission can be judged twice: **the API records
//! one verdict per submission id** (the first; a repeat is acknowledged and counted, not applied),
//! which makes the leaderboard update idempotent. The verdict is a function of the submission
//! (the same code on the same tests): which one of two runs wins does not matter. A `Submit` the
//! client retries is queued again (its first copy may not have reached the log) but keeps the
//! time the API first received it: the leaderboard scores a submission from its first arrival,
//! whichever copy's run wins (until stop 72 each copy carried its own queueing time, and a
//! later copy's win scored it from the retry: 485 submissions in one explore run).
//!
//! **Without the queue** (`queue: false`, the known-bad design) the API dispatches each
//! submission straight to a runner with a free sandbox (trying the runners in turn) and answers
//! the client once one took it; when none has a free sandbox the submission is refused (503) and,
//! after the client's retries, lost. A runner crash loses its runs for good (nothing redelivers
//! them; the client polls until it gives up). The scaler observes the API's runs in progress plus
//! the refusals since its last report (there is no queue to measure), so the pool still grows,
//! but what arrives during the cold start has nowhere to wait.
//!
//! **The leaderboard** (ICPC rules): per user, problems solved and a penalty: for each solved
//! problem, the seconds from the contest start to the first accepted submission plus `penalty`
//! per wrong submission before it (by submission time, so verdicts arriving out of order score
//! the same). Ranked by solved (descending), then penalty.
//!
//! **Simplified.** One API server holding the results table and leaderboard (no cache, no
//! replicas; it is not crashed here: down for longer than a client's submit budget, three tries of
//! 2 s, it loses the submissions made meanwhile, which `exactly_one_verdict` counts, as `simctl
//! explore` found with a 10 s crash of n4: 33 lost); the problem service and the reading of problems are not
//! modelled (the notes cache them: reads are not the bottleneck); a verdict is accepted or wrong,
//! drawn once per submission id; a run's isolation is a sandbox slot.
//!
//! **Checks** (over the history, and the API's read-only state): `exactly_one_verdict`: every
//! submission the users made has exactly one verdict recorded in the leaderboard (none lost, none
//! applied twice); `result_within_sla`: the p99 of the time to a result (as the user saw it) of
//! the submissions made after the first-minute spike (`spike_end`) is within `result_sla`, those
//! in progress during a fault (a runner's crash) left out;
//! `backlog_drained`: the last result that took longer than `result_sla` arrived by `drain_by`
//! (after it, nothing waits longer than the SLA); `leaderboard_matches_oracle`: every user's row
//! (solved, penalty, verdicts) equals the row recomputed from the verdicts the users were shown,
//! and the ranking is their order.
//!
//! **Measures**: submissions, verdicts, lost, runs, re-runs (runs beyond one per verdict:
//! redeliveries after crashes and rebalances), rebalances and the partitions they moved (the
//! queue's `log.assignor`: `Sticky` moves about a fifth of what `RoundRobin` does, and re-runs
//! fall with it), repeated verdicts ignored, refusals; result
//! latency percentiles overall and after the spike; the steady submission rate, mean run time
//! and sandboxes busy after the spike (for the estimates); from the kernel's levels
//! `runners.up`, `runners.starting`, `runners.desired`, `runners.busy` (runners over time,
//! plotted in the report) and `log.lag`.
//!
//! **The failures it shows**: without the queue the contest-start spike is refused and lost
//! (`judge_no_queue`); a fixed pool sized for the average rate builds a backlog at the start that
//! takes minutes to drain, so results arrive late long after the spike (`judge_fixed_pool`),
//! while the autoscaled pool catches up after its cold start (`judge`).

pub mod check;
pub mod leaderboard;

use leaderboard::Leaderboard;
use parts::balance::{HealthSpec, Policy};
use parts::calls::{Answer, AnswerWhenDurable, CallOutcome, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, Delivery, LogSpec, Producer};
use parts::pool::PoolTimer;
use parts::workers::{self, Observation, Scaler, ScalerSpec, Worker, WorkerEvent, WorkerSpec};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::rng::mix64;
use sim_core::{
    Actor, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Time,
    Topology, WriteId,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A problem of the contest: how long a run of its tests takes (before the language's factor),
/// and the share of submissions that are accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub run: Dist,
    pub accept: f64,
}

/// A language: its share of submissions and its run-time factor (an interpreter is slower, a JVM
/// starts slower).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    pub name: String,
    pub share: f64,
    pub factor: f64,
}

/// ```ron
/// config: (
///     queue: true,
///     runner: (concurrency: 4),
///     scaler: (min: 2, max: 30, initial: 3, target: Backlog(6.0), interval: "2s",
///              provisioning: Constant("10s"), scale_in_window: "30s"),
///     problems: [(run: LogNormal(median: "800ms", sigma: 0.4), accept: 0.5)],
///     languages: [(name: "cpp", share: 0.5, factor: 1.0), (name: "python", share: 0.5, factor: 2.5)],
///     poll_every: "1s",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    /// The submission queue (its first topic); unused without the queue.
    pub log: LogSpec,
    /// `false`: the known-bad design, submissions dispatched straight to runners.
    pub queue: bool,
    /// A runner: `concurrency` sandboxes (its `service` is unused: run times come from the
    /// problems and languages).
    pub runner: WorkerSpec,
    pub scaler: ScalerSpec,
    pub problems: Vec<Problem>,
    pub languages: Vec<Language>,
    /// Client -> API: the submission.
    pub submit_call: CallPolicy,
    /// Client -> API: `GET /check/:id`.
    pub check_call: CallPolicy,
    /// Runner -> API: the verdict (retried until it lands; no breaker).
    pub verdict_call: CallPolicy,
    /// API -> runner, without the queue: one attempt per runner tried.
    pub dispatch_call: CallPolicy,
    pub poll_every: Duration,
    /// A client stops polling after this long (the submission is then lost to the user).
    pub poll_for: Duration,
    /// Penalty per wrong submission before the accepted one.
    pub penalty: Duration,
    /// Record one verdict per submission id (`false` applies every verdict that arrives: a test
    /// knob showing the leaderboard checks fail).
    pub dedup_verdicts: bool,
    /// The requirement: a result within this.
    pub result_sla: Duration,
    /// Submissions made before this are the contest-start spike (not judged by the SLA).
    pub spike_end: Duration,
    /// Every result later than `result_sla` must have arrived by this.
    pub drain_by: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 3,
            log: LogSpec::default(),
            queue: true,
            runner: WorkerSpec { concurrency: 4, ..WorkerSpec::default() },
            scaler: ScalerSpec::default(),
            problems: vec![Problem { run: Dist::Constant(Duration::from_secs(1)), accept: 0.5 }],
            languages: vec![Language { name: "cpp".into(), share: 1.0, factor: 1.0 }],
            submit_call: CallPolicy { timeout: Duration::from_secs(2), retries: 2, ..CallPolicy::default() },
            check_call: CallPolicy { timeout: Duration::from_secs(1), retries: 0, ..CallPolicy::default() },
            verdict_call: CallPolicy { timeout: Duration::from_millis(500), retries: 20, ..CallPolicy::default() },
            dispatch_call: CallPolicy { timeout: Duration::from_millis(200), retries: 0, ..CallPolicy::default() },
            poll_every: Duration::from_secs(1),
            poll_for: Duration::from_secs(300),
            penalty: Duration::from_secs(1200),
            dedup_verdicts: true,
            result_sla: Duration::from_secs(5),
            spike_end: Duration::from_secs(60),
            drain_by: Duration::from_secs(60),
        }
    }
}

/// What the judge knows about submissions: a submission's problem, language, verdict and run
/// time are functions of its id (the verdict is the same on every run of the same code).
#[derive(Clone, Debug)]
pub struct Contest {
    pub problems: Vec<Problem>,
    pub languages: Vec<Language>,
}

impl Contest {
    pub fn new(c: &Config) -> Contest {
        Contest { problems: c.problems.clone(), languages: c.languages.clone() }
    }

    /// The problem submission `id` solves.
    pub fn problem_of(&self, id: u64) -> u32 {
        (mix64(id ^ 0x7072_6f62) % self.problems.len() as u64) as u32
    }

    /// The language submission `id` is written in (by the languages' shares).
    pub fn language_of(&self, id: u64) -> usize {
        let total: f64 = self.languages.iter().map(|l| l.share).sum();
        let mut u = unit(mix64(id ^ 0x6c61_6e67)) * total;
        for (i, l) in self.languages.iter().enumerate() {
            if u < l.share {
                return i;
            }
            u -= l.share;
        }
        self.languages.len() - 1
    }

    /// Whether submission `id` is accepted.
    pub fn accepted(&self, id: u64) -> bool {
        unit(mix64(id ^ 0x7665_7264)) < self.problems[self.problem_of(id) as usize].accept
    }

    /// A run of submission `id`: the problem's run time drawn from `rng`, times the language's
    /// factor.
    pub fn run_time(&self, id: u64, rng: &mut Prng) -> Duration {
        let base = self.problems[self.problem_of(id) as usize].run.sample(rng);
        let f = self.languages[self.language_of(id)].factor;
        Duration((base.0 as f64 * f).round() as u64)
    }
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// One submission as the API stamped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sub {
    pub id: u64,
    pub user: u64,
    /// The API's clock when it took the submission (the leaderboard's submission time).
    pub at: Time,
}

/// Where each role lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub control: NodeId,
    pub brokers: Vec<NodeId>,
    pub api: NodeId,
    pub runners: Vec<NodeId>,
}

impl Layout {
    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let b = c.brokers as usize;
        Layout { control: s[0], brokers: s[1..=b].to_vec(), api: s[b + 1], runners: s[b + 2..].to_vec() }
    }
}

/// The design's own messages.
#[derive(Clone, Debug)]
pub enum AppMsg {
    /// Client -> API: `POST /problems/:id/submit`.
    Submit { req: ReqId, id: u64, user: u64 },
    /// API -> client: taken (202 with the id) or refused (503).
    Submitted { req: ReqId, ok: bool },
    /// Client -> API: `GET /check/:id`.
    Check { req: ReqId, id: u64 },
    /// API -> client: the verdict and the submission time, or still pending.
    Status { req: ReqId, verdict: Option<(bool, Time)> },
    /// API -> runner, without the queue: run this now.
    Run { req: ReqId, sub: Sub },
    /// Runner -> API: taken, or no free sandbox.
    RunAck { req: ReqId, ok: bool },
    /// Runner -> API: the verdict of a run.
    Verdict { req: ReqId, sub: Sub, accepted: bool },
    /// API -> runner: the verdict is on disk.
    VerdictAck { req: ReqId },
    /// API -> control, without the queue: runs in progress plus refusals since the last report.
    Load { backlog: u64 },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Submit { .. } => "submit",
            AppMsg::Submitted { .. } => "submitted",
            AppMsg::Check { .. } => "check",
            AppMsg::Status { .. } => "status",
            AppMsg::Run { .. } => "run",
            AppMsg::RunAck { .. } => "run_ack",
            AppMsg::Verdict { .. } => "verdict",
            AppMsg::VerdictAck { .. } => "verdict_ack",
            AppMsg::Load { .. } => "load",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            // A submission carries its code.
            AppMsg::Submit { .. } | AppMsg::Run { .. } => 2048,
            _ => 128,
        }
    }
}

/// A client's poll of one submission is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollTimer(u64);

/// The API's report to the scaler is due (without the queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadTimer;

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), Workers(workers::Msg), App(AppMsg) }
}
parts::wire! {
    timers pub enum Timer {
        Log(log::Timer), Workers(workers::Timer), Pool(PoolTimer), Call(CallTimer), Poll(PollTimer), Load(LoadTimer)
    }
}

/// A verdict on the API's disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictRec {
    pub sub: Sub,
    pub accepted: bool,
}

/// What nodes of this design write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Verdict(VerdictRec),
}

impl From<log::Disk> for Rec {
    fn from(d: log::Disk) -> Rec {
        Rec::Log(d)
    }
}

fn log_rec(r: &Rec) -> Option<&log::Disk> {
    match r {
        Rec::Log(d) => Some(d),
        Rec::Verdict(_) => None,
    }
}

pub struct Control {
    pub coordinator: Coordinator,
    pub scaler: Scaler,
    queue: bool,
    /// The API's last report (without the queue).
    load: u64,
}

/// A client call in flight: the operation it serves and the submission.
#[derive(Clone, Copy, Debug)]
pub enum ClientCall {
    Submit { op: OpId, id: u64 },
    Check { id: u64 },
}

/// A user's browser: submits, then polls until the verdict is there.
pub struct Client {
    calls: Calls<AppMsg, ClientCall>,
    submit: ServiceId,
    check: ServiceId,
    /// Submissions taken and not yet judged, as the client sees them: id -> (operation, since).
    waiting: BTreeMap<u64, (OpId, Time)>,
    poll_every: Duration,
    poll_for: Duration,
}

/// Counts of the API server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiStats {
    pub taken: u64,
    pub refused: u64,
    pub verdicts: u64,
    /// Verdicts for a submission that already had one (re-runs): acknowledged, not applied.
    pub repeated: u64,
    pub checks: u64,
}

/// The API server, with the results table and the leaderboard.
pub struct Api {
    queue: bool,
    dedup: bool,
    producer: Producer<(NodeId, ReqId)>,
    dispatch: Calls<AppMsg, (NodeId, ReqId, u64)>,
    runners: ServiceId,
    control: NodeId,
    report_every: Duration,
    contest: Rc<Contest>,
    /// Submission id -> when the API first received it. A client's retry is the same submission:
    /// it is queued again (the first copy may not have reached the log) but keeps its first stamp.
    stamped: BTreeMap<u64, Time>,
    /// The submission ids that ever reached the API, over its incarnations (a ledger the factory
    /// shares, ARCHITECTURE.md rule 9): `exactly_one_verdict` tells a submit that timed out
    /// before the API had it (the API was unreachable) from a submission it took and lost.
    pub received: Rc<RefCell<BTreeSet<u64>>>,
    /// Submission id -> its recorded verdict.
    pub results: BTreeMap<u64, VerdictRec>,
    /// Submission id -> how many verdicts were applied to the leaderboard.
    pub applied: BTreeMap<u64, u32>,
    pub leaderboard: Leaderboard,
    /// Without the queue: submissions a runner took and that have no verdict yet.
    running: BTreeSet<u64>,
    refused_since_report: u64,
    /// Verdicts being written: (runner, request), answered when on disk.
    pending: AnswerWhenDurable,
    pub stats: ApiStats,
}

/// A run: the submission, and (with the queue) the record it came from.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    sub: Sub,
    delivery: Option<Delivery>,
    /// The run's time in the sandbox.
    run: Duration,
}

pub struct Runner {
    pub worker: Worker<Job>,
    consumer: Option<Consumer>,
    calls: Calls<AppMsg, Job>,
    api: ServiceId,
    contest: Rc<Contest>,
    draining: bool,
}

pub enum Node {
    Control(Box<Control>),
    Broker(Box<Broker>),
    Api(Box<Api>),
    Runner(Box<Runner>),
    Client(Box<Client>),
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let (id, user) = (op.value, op.key);
        let make = |req| AppMsg::Submit { req, id, user };
        if let Err(done) = self.calls.call(ctx, self.submit, user, make, ClientCall::Submit { op: op.id, id }) {
            self.done(ctx, done);
        }
    }

    fn poll(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let make = |req| AppMsg::Check { req, id };
        if let Err(done) = self.calls.call(ctx, self.check, id, make, ClientCall::Check { id }) {
            self.done(ctx, done);
        }
    }

    /// Polls again later, or gives up after `poll_for`.
    fn poll_later(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(&(op, since)) = self.waiting.get(&id) else { return };
        if ctx.now().since(since) >= self.poll_for {
            self.waiting.remove(&id);
            ctx.complete(op, Outcome::Timeout, Reply::None);
        } else {
            ctx.set_timer(self.poll_every, Timer::Poll(PollTimer(id)));
        }
    }

    /// A call is over (a `Status` answer is handled in `on_msg`, with its payload).
    fn done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<ClientCall>) {
        match done.data {
            ClientCall::Submit { op, id } if done.outcome == CallOutcome::Ok => {
                self.waiting.insert(id, (op, ctx.now()));
                self.poll_later(ctx, id);
            }
            ClientCall::Submit { op, .. } => ctx.complete(op, done.outcome.outcome(), Reply::None),
            ClientCall::Check { id } => self.poll_later(ctx, id),
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Submitted { req, ok }) => {
                let answer = if ok { Answer::Ok } else { Answer::Retryable };
                if let Some(done) = self.calls.reply(ctx, req, answer) {
                    self.done(ctx, done);
                }
            }
            Msg::App(AppMsg::Status { req, verdict }) => {
                let Some(done) = self.calls.reply(ctx, req, Answer::Ok) else { return };
                match (done.data, verdict) {
                    (ClientCall::Check { id }, Some((accepted, at))) => {
                        if let Some((op, _)) = self.waiting.remove(&id) {
                            ctx.complete(op, Outcome::Ok, Reply::list([accepted as u64, at.0]));
                        }
                    }
                    _ => self.done(ctx, done),
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.done(ctx, done);
                }
            }
            Timer::Poll(PollTimer(id)) if self.waiting.contains_key(&id) => self.poll(ctx, id),
            _ => {}
        }
    }
}

impl Api {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        for r in ctx.durable() {
            if let Rec::Verdict(v) = r {
                self.apply(*v);
            }
        }
        if self.queue {
            self.producer.start(ctx);
        } else {
            ctx.set_timer(self.report_every, Timer::Load(LoadTimer));
        }
    }

    /// Records a verdict and applies it to the leaderboard.
    fn apply(&mut self, v: VerdictRec) {
        self.results.entry(v.sub.id).or_insert(v);
        *self.applied.entry(v.sub.id).or_default() += 1;
        self.leaderboard.apply(v.sub.user, self.contest.problem_of(v.sub.id), v.sub.at, v.accepted);
    }

    fn on_submit(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, id: u64, user: u64) {
        self.received.borrow_mut().insert(id);
        let sub = Sub { id, user, at: *self.stamped.entry(id).or_insert(ctx.now()) };
        if self.queue {
            self.producer.produce(ctx, 0, user, id, (from, req));
            return;
        }
        let make = |r| AppMsg::Run { req: r, sub };
        if let Err(done) = self.dispatch.call(ctx, self.runners, id, make, (from, req, id)) {
            self.dispatched(ctx, done);
        }
    }

    fn answer_submit(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, req: ReqId, ok: bool) {
        if ok {
            self.stats.taken += 1;
        } else {
            self.stats.refused += 1;
            self.refused_since_report += 1;
            ctx.count_in("api", "refused", 1);
        }
        ctx.send(to, Msg::from(AppMsg::Submitted { req, ok }));
    }

    fn dispatched(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<(NodeId, ReqId, u64)>) {
        let (to, req, id) = done.data;
        let ok = done.outcome == CallOutcome::Ok;
        if ok && !self.results.contains_key(&id) {
            self.running.insert(id);
        }
        self.answer_submit(ctx, to, req, ok);
    }

    fn on_verdict(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, sub: Sub, accepted: bool) {
        // A run of a retried copy carries its own queueing time: the submission's is the first.
        let sub = Sub { at: self.stamped.get(&sub.id).map_or(sub.at, |&first| first.min(sub.at)), ..sub };
        self.running.remove(&sub.id);
        if self.dedup && self.results.contains_key(&sub.id) {
            // A re-run's verdict: answer once the first one is on disk (else its write will).
            if !self.pending.is_waiting(from, req) {
                self.stats.repeated += 1;
                ctx.send(from, Msg::from(AppMsg::VerdictAck { req }));
            }
            return;
        }
        self.stats.verdicts += 1;
        let v = VerdictRec { sub, accepted };
        self.apply(v);
        let w = ctx.persist(Rec::Verdict(v));
        self.pending.wait(w, from, req);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Submit { req, id, user }) => self.on_submit(ctx, from, req, id, user),
            Msg::App(AppMsg::Check { req, id }) => {
                self.stats.checks += 1;
                let verdict = self.results.get(&id).map(|v| (v.accepted, v.sub.at));
                ctx.send(from, Msg::from(AppMsg::Status { req, verdict }));
            }
            Msg::App(AppMsg::Verdict { req, sub, accepted }) => self.on_verdict(ctx, from, req, sub, accepted),
            Msg::App(AppMsg::RunAck { req, ok }) => {
                let answer = if ok { Answer::Ok } else { Answer::Retryable };
                if let Some(done) = self.dispatch.reply(ctx, req, answer) {
                    self.dispatched(ctx, done);
                }
            }
            Msg::Log(m) => {
                if let Some(p) = self.producer.on_msg(ctx, &m) {
                    let (to, req) = p.token;
                    self.answer_submit(ctx, to, req, p.result.is_ok());
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Log(t) => {
                if let Some(p) = self.producer.on_timer(ctx, t) {
                    let (to, req) = p.token;
                    self.answer_submit(ctx, to, req, p.result.is_ok());
                }
            }
            Timer::Call(t) => {
                if let Some(done) = self.dispatch.on_timer(ctx, t) {
                    self.dispatched(ctx, done);
                }
            }
            Timer::Load(_) => {
                let backlog = self.running.len() as u64 + self.dispatch.in_flight() as u64 + self.refused_since_report;
                self.refused_since_report = 0;
                ctx.send(self.control, Msg::from(AppMsg::Load { backlog }));
                ctx.set_timer(self.report_every, Timer::Load(LoadTimer));
            }
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Node>, w: WriteId) {
        if let Some((to, req)) = self.pending.written(w) {
            ctx.send(to, Msg::from(AppMsg::VerdictAck { req }));
        }
    }
}

impl Runner {
    fn on_worker_event(&mut self, ctx: &mut Ctx<'_, Node>, e: Option<WorkerEvent>) {
        match e {
            Some(WorkerEvent::Up) => {
                if let Some(c) = &mut self.consumer {
                    c.join(ctx);
                }
            }
            Some(WorkerEvent::Draining) => {
                self.draining = true;
                self.check_drained(ctx);
            }
            None => {}
        }
    }

    fn run(&mut self, ctx: &mut Ctx<'_, Node>, sub: Sub, delivery: Option<Delivery>) {
        let run = self.contest.run_time(sub.id, ctx.rng());
        ctx.count_in("runners", "runs", 1);
        self.worker.submit_for(ctx, Job { sub, delivery, run }, run);
    }

    /// Takes submissions from the queue while a sandbox is free.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while !self.draining && self.worker.accepting() {
            let Some(c) = &mut self.consumer else { break };
            let Some(d) = c.poll(ctx) else { break };
            let sub = Sub { id: d.rec.value, user: d.rec.key, at: d.rec.produced };
            self.run(ctx, sub, Some(d));
        }
    }

    fn check_drained(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.draining && self.worker.busy() == 0 && self.calls.in_flight() == 0 {
            if let Some(c) = &mut self.consumer {
                c.leave(ctx);
            }
            self.worker.stopped(ctx);
            self.draining = false;
        }
    }

    /// Writes a run's verdict to the API (again, if a write gave up).
    fn report(&mut self, ctx: &mut Ctx<'_, Node>, job: Job) {
        let (sub, accepted) = (job.sub, self.contest.accepted(job.sub.id));
        let make = |req| AppMsg::Verdict { req, sub, accepted };
        if let Err(done) = self.calls.call(ctx, self.api, sub.id, make, job) {
            unreachable!("one API server, no breaker, fail-open health: a call always starts ({:?})", done.outcome);
        }
    }

    fn reported(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Job>) {
        if done.outcome != CallOutcome::Ok {
            self.report(ctx, done.data);
            return;
        }
        if let (Some(c), Some(d)) = (&mut self.consumer, &done.data.delivery) {
            c.done(d);
        }
        self.pump(ctx);
        self.check_drained(ctx);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Workers(m) => {
                let e = self.worker.on_msg(ctx, &m);
                self.on_worker_event(ctx, e);
            }
            Msg::Log(m) => {
                if let Some(c) = &mut self.consumer
                    && c.on_msg(ctx, &m).is_some()
                {
                    self.pump(ctx);
                }
            }
            Msg::App(AppMsg::Run { req, sub }) => {
                let ok = !self.draining && self.worker.accepting();
                if ok {
                    self.run(ctx, sub, None);
                }
                ctx.send(from, Msg::from(AppMsg::RunAck { req, ok }));
            }
            Msg::App(AppMsg::VerdictAck { req }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.reported(ctx, done);
                }
            }
            Msg::App(_) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Workers(t) => {
                let e = self.worker.on_timer(ctx, t);
                self.on_worker_event(ctx, e);
            }
            Timer::Log(t) => {
                if let Some(c) = &mut self.consumer {
                    c.on_timer(ctx, t);
                }
                self.pump(ctx);
            }
            Timer::Pool(t) => {
                if let Some(job) = self.worker.on_pool_timer(ctx, t) {
                    ctx.count_in("runners", "ran", 1);
                    ctx.count_in("runners", "run_ns", job.run.0);
                    self.report(ctx, job);
                }
                self.pump(ctx);
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.reported(ctx, done);
                }
            }
            Timer::Poll(_) | Timer::Load(_) => {}
        }
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Control(c) => {
                c.coordinator.start(ctx, log_rec);
                c.scaler.start(ctx);
            }
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Api(a) => a.on_start(ctx),
            Node::Runner(r) => r.worker.start(ctx),
            Node::Client(_) => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Control(c) => match msg {
                Msg::Log(m) => c.coordinator.on_msg(ctx, from, &m),
                Msg::Workers(m) => c.scaler.on_msg(ctx, from, &m),
                Msg::App(AppMsg::Load { backlog }) => c.load = backlog,
                Msg::App(_) => {}
            },
            Node::Broker(b) => {
                if let Msg::Log(m) = msg {
                    b.on_msg(ctx, from, &m);
                }
            }
            Node::Api(a) => a.on_msg(ctx, from, msg),
            Node::Runner(r) => r.on_msg(ctx, from, msg),
            Node::Client(c) => c.on_msg(ctx, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match self {
            Node::Control(c) => match t {
                Timer::Log(t) => c.coordinator.on_timer(ctx, t),
                Timer::Workers(t) => {
                    let backlog = if c.queue { c.coordinator.total_lag() } else { c.load };
                    c.scaler.on_timer(ctx, t, Observation { backlog });
                }
                _ => {}
            },
            Node::Broker(b) => {
                if let Timer::Log(t) = t {
                    b.on_timer(ctx, t);
                }
            }
            Node::Api(a) => a.on_timer(ctx, t),
            Node::Runner(r) => r.on_timer(ctx, t),
            Node::Client(c) => c.on_timer(ctx, t),
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            Node::Control(c) => {
                c.coordinator.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            Node::Api(a) => a.on_persisted(ctx, w),
            Node::Runner(_) | Node::Client(_) => {}
        }
    }
}

pub struct Judge;

/// Every check the model reports.
pub const CHECKS: &[&str] =
    &["exactly_one_verdict", "result_within_sla", "backlog_drained", "leaderboard_matches_oracle"];

impl Model for Judge {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = CHECKS;
    const PROGRESS_CHECKS: &'static [&'static str] = &["exactly_one_verdict"];
    const NAME: &'static str = "judge";
    const ABOUT: &'static str = "online judge: submission API -> queue (log) -> autoscaled runners -> verdicts polled by clients, live leaderboard";
    const OP_KINDS: &'static [&'static str] = &["submit"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        check::validate(c, topo)
    }

    /// Per submission: with the queue, its message in the log (the shared entry, each replica's
    /// handle and group commit, as kafka's footprint states them); its result, verdict and the
    /// checkers' records (~600 B, measured); per user its leaderboard row; per partition and
    /// replica ~16 kB (the intercept measured at 100 partitions). Events: per submission ~45
    /// (submit, queue, dispatch, run, verdict) and a poll and its answer per `poll_every` until
    /// its result (~4.3 s on judge_10k_users); the log's fetches, ~3.5 a second per partition
    /// and replica.
    /// Measured with `simctl bench scenario` (debug): judge_10k_users, 31 MB used (estimate
    /// 30 MB); at twice its rate 46 MB (46 MB); with 100,000 users 33 MB.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let subs = load.of("submit", Self::OP_KINDS);
        let rf = c.log.replication as f64;
        let partitions: f64 = c.log.topics.iter().map(|t| t.partitions as f64).sum();
        let poll_s = c.poll_every.as_secs_f64().max(1e-3);
        let queued_each = if c.queue { c.log.record_bytes() } else { 0.0 };
        let logs = if c.queue { partitions * rf * 16e3 } else { 0.0 };
        let fetched = if c.queue { partitions * rf } else { 0.0 };
        sim_core::cost::Footprint {
            events: subs * (45.0 + 2.0 * 4.3 / poll_s) + load.run_s * fetched * 3.5,
            queued: load.in_flight * 10.0,
            ..Default::default()
        }
        .part(format!("queue: {subs} submissions x {queued_each:.0} B", subs = count(subs)), subs * queued_each)
        .part(format!("results and the checkers' records: {subs} x 600 B", subs = count(subs)), subs * 600.0)
        .part(format!("leaderboard: {} users x 30 B", count(load.keys)), load.keys * 30.0)
        .part(format!("log partitions: {partitions} x {rf:.0} replicas x 16 kB", partitions = count(partitions)), logs)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.control, l.brokers.clone()));
        let contest = Rc::new(Contest::new(c));
        let received: Rc<RefCell<BTreeSet<u64>>> = Rc::default();
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            let health = HealthSpec { fail_open: true, ..HealthSpec::default() };
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let submit =
                    calls.add("submit_calls", &[l.api], c.submit_call.clone(), Policy::RoundRobin, health.clone());
                let check = calls.add("check_calls", &[l.api], c.check_call.clone(), Policy::RoundRobin, health);
                Node::Client(Box::new(Client {
                    calls,
                    submit,
                    check,
                    waiting: BTreeMap::new(),
                    poll_every: c.poll_every,
                    poll_for: c.poll_for,
                }))
            } else if n == l.control {
                Node::Control(Box::new(Control {
                    coordinator: Coordinator::new(cluster.clone(), "log"),
                    scaler: Scaler::new("runners", c.scaler.clone(), &l.runners),
                    queue: c.queue,
                    load: 0,
                }))
            } else if l.brokers.contains(&n) {
                Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)))
            } else if n == l.api {
                let mut dispatch = Calls::new();
                let runners =
                    dispatch.add("dispatch_calls", &l.runners, c.dispatch_call.clone(), Policy::RoundRobin, health);
                Node::Api(Box::new(Api {
                    queue: c.queue,
                    dedup: c.dedup_verdicts,
                    producer: Producer::new(cluster.clone(), "log"),
                    dispatch,
                    runners,
                    control: l.control,
                    report_every: c.scaler.interval,
                    contest: contest.clone(),
                    stamped: BTreeMap::new(),
                    received: received.clone(),
                    results: BTreeMap::new(),
                    applied: BTreeMap::new(),
                    leaderboard: Leaderboard::new(c.penalty),
                    running: BTreeSet::new(),
                    refused_since_report: 0,
                    pending: AnswerWhenDurable::default(),
                    stats: ApiStats::default(),
                }))
            } else {
                let mut calls = Calls::new();
                let api = calls.add("verdict_calls", &[l.api], c.verdict_call.clone(), Policy::RoundRobin, health);
                Node::Runner(Box::new(Runner {
                    worker: Worker::new("runners", c.runner.clone(), l.control),
                    consumer: c.queue.then(|| Consumer::new(cluster.clone(), "log", 0, 0)),
                    calls,
                    api,
                    contest: contest.clone(),
                    draining: false,
                }))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}
