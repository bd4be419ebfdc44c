//! The scenario: everything about a run in one file (model, configuration, seed, duration,
//! topology, network, disks, workload, faults, invariants, SLAs, estimates), and the generic driver
//! that runs any [`Model`] from it: a main phase with faults and load, then a liveness phase in
//! which every fault is healed and the load stops, then the model's checkers.

use crate::disk::DiskSpec;
use crate::fault::FaultsSpec;
use crate::model::{Model, RunView};
use crate::net::NetworkSpec;
use crate::record::RunRecord;
use crate::rng::{Prng, Stream};
use crate::time::{Duration, Time};
use crate::topology::{Topology, TopologySpec};
use crate::verdict::{Estimate, Expect, Sla};
use crate::workload::WorkloadSpec;
use crate::world::{Sim, SimConfig, StopReason, TraceEvent};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario<C> {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub model: String,
    #[serde(default)]
    pub config: C,
    #[serde(default)]
    pub seed: u64,
    /// The main phase: workload and faults.
    pub duration: Duration,
    /// The liveness phase after it: faults healed, no new load (convergence checks read its end).
    #[serde(default)]
    pub settle: Duration,
    #[serde(default)]
    pub topology: TopologySpec,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub disk: DiskSpec,
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
    #[serde(default)]
    pub faults: FaultsSpec,
    /// Swarm mode: ranges instead of values for fault intensities; each seed draws its own fault
    /// climate (see `sweep::Swarm`), applied before the nemesis is expanded.
    #[serde(default)]
    pub swarm: Option<crate::sweep::Swarm>,
    /// The model's checks that count in the verdict (empty: all of them).
    #[serde(default)]
    pub invariants: Vec<String>,
    /// Model checks that may judge nothing in this scenario (by default a check that judged no
    /// item is `VACUOUS` and fails the run).
    #[serde(default)]
    pub may_be_empty: Vec<String>,
    /// A known-bad scenario's checks (or SLAs) that may fail besides those its `expect` lists,
    /// on some seeds: other consequences of the same cause. A run that fails them too still
    /// fails as declared; one that fails anything else does not.
    #[serde(default)]
    pub may_also_fail: Vec<String>,
    #[serde(default)]
    pub slas: Vec<Sla>,
    #[serde(default)]
    pub estimates: Vec<Estimate>,
    /// A wrong estimate fails the run (by default it is a finding that does not change the exit code).
    #[serde(default)]
    pub strict_estimates: bool,
    /// Every fault must have had an effect (dropped, delayed or lost something, or hit operations),
    /// so a chaos test cannot pass by accident.
    #[serde(default)]
    pub require_fault_effect: bool,
    #[serde(default)]
    pub expect: Expect,
    /// Width of the report's time buckets (default: 1s, or duration / 100 for short runs).
    #[serde(default)]
    pub report_interval: Option<Duration>,
    /// Stop after this many events (a runaway guard; default 2 billion).
    #[serde(default)]
    pub max_events: Option<u64>,
}

/// A list with many bad entries reports this many of them (a file with 200,000 copies of one
/// mistake gets a screenful, not 200,000 lines).
pub const PROBLEMS_PER_LIST_MAX: usize = 20;

/// A problem in a scenario: the field path (`faults.schedule[2].at`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl<C> Scenario<C> {
    /// Every problem in the scenario, not just the first. The model's config is checked by `M`.
    pub fn validate<M: Model<Config = C>>(&self) -> Vec<Problem> {
        let mut errors: Vec<(String, String)> = Vec::new();
        if self.model != M::NAME {
            errors.push(("model".into(), format!("expected `{}`, got `{}`", M::NAME, self.model)));
        }
        if self.duration.0 == 0 {
            errors.push(("duration".into(), "must be positive".into()));
        }
        if self.run_span() > Duration::YEAR {
            errors.push(("duration".into(), "duration + settle must be at most a year of simulated time".into()));
        }
        match self.report_interval {
            Some(Duration::ZERO) => errors.push(("report_interval".into(), "must be positive".into())),
            Some(i) if self.report_intervals(i) > REPORT_INTERVALS_MAX => errors.push((
                "report_interval".into(),
                format!(
                    "{i} cuts the run into {} intervals, more than the limit of {REPORT_INTERVALS_MAX} (each holds \
                     a latency histogram per operation kind); use at least {}",
                    self.report_intervals(i),
                    Duration(self.run_span().0.div_ceil(REPORT_INTERVALS_MAX))
                ),
            )),
            _ => {}
        }
        // What does not depend on the topology is checked even when the topology is wrong.
        if let Some(w) = &self.workload {
            errors.extend(w.validate(M::OP_KINDS, self.duration));
        }
        if let Some(s) = &self.swarm {
            errors.extend(s.validate("swarm"));
            // The fiercest climate the swarm can draw must stay within the nemesis limits.
            let mut fiercest = self.faults.nemesis.clone().unwrap_or_default();
            for (rate, range) in [
                (&mut fiercest.crashes_per_min, s.crashes_per_min),
                (&mut fiercest.partitions_per_min, s.partitions_per_min),
                (&mut fiercest.pauses_per_min, s.pauses_per_min),
                (&mut fiercest.clock_steps_per_min, s.clock_steps_per_min),
                (&mut fiercest.clock_drifts_per_min, s.clock_drifts_per_min),
            ] {
                if let Some((lo, hi)) = range {
                    *rate = lo.max(hi);
                }
            }
            errors.extend(fiercest.check_fault_count("swarm", self.duration));
        }
        match Topology::from_spec(&self.topology) {
            Err(e) => errors.extend(e),
            Ok(topo) => {
                errors.extend(self.network.validate(&topo));
                errors.extend(self.disk.validate(topo.node_count()));
                errors.extend(self.faults.validate(&topo, self.duration));
                if self.workload.is_some() && topo.clients.is_empty() {
                    errors.push(("topology.clients".into(), "a workload needs at least one client node".into()));
                }
                let script = self.workload.as_ref().and_then(|w| w.arrival.script()).unwrap_or_default();
                if let Some((i, s)) = script.iter().enumerate().find(|(_, s)| s.client as usize >= topo.clients.len()) {
                    errors.push((
                        format!("workload.arrival.ops[{i}].client"),
                        format!(
                            "client {} does not exist (the topology has {} clients, 0..{})",
                            s.client,
                            topo.clients.len(),
                            topo.clients.len()
                        ),
                    ));
                }
                errors.extend(M::validate(&self.config, &topo));
                errors.extend(M::validate_schedule(&self.config, self.duration + self.settle));
            }
        }
        errors.into_iter().map(|(path, message)| Problem { path, message }).collect()
    }
}

/// A run stops after this many events unless its scenario says otherwise (`max_events`).
pub const MAX_EVENTS_DEFAULT: u64 = 2_000_000_000;

/// At most this many report intervals in a run (each holds a latency histogram per op kind).
pub const REPORT_INTERVALS_MAX: u64 = 10_000;

impl<C> Scenario<C> {
    /// The main phase and the liveness phase.
    pub fn run_span(&self) -> Duration {
        self.duration + self.settle
    }

    fn report_intervals(&self, interval: Duration) -> u64 {
        self.run_span().0.div_ceil(interval.0.max(1))
    }

    /// The width of the report's time buckets: as written, or 1 s (duration / 100 for runs under
    /// 100 s, at least 1 ms), widened to whole seconds where that would make more than
    /// [`REPORT_INTERVALS_MAX`] intervals.
    pub fn report_interval_or_default(&self) -> Duration {
        self.report_interval.unwrap_or_else(|| {
            let usual = if self.duration >= Duration::from_secs(100) {
                Duration::from_secs(1)
            } else {
                Duration((self.duration.0 / 100).max(1_000_000))
            };
            let fewest = self.run_span().0.div_ceil(REPORT_INTERVALS_MAX);
            if fewest <= usual.0 { usual } else { Duration::from_secs(fewest.div_ceil(1_000_000_000)) }
        })
    }
}

/// Knobs of one run that are not part of the scenario.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Keep the full event trace.
    pub trace: bool,
    /// Called now and then with (simulated time, events so far, end time).
    pub progress: Option<&'a mut dyn FnMut(Time, u64, Time)>,
    /// Collect the actors' fingerprint transitions (`simctl explore`'s coverage).
    pub coverage: bool,
    /// With `trace`: leave out the payloads (each event's `detail`), for a reader of the events'
    /// times, nodes and labels only.
    pub trace_without_details: bool,
}

pub struct RunOutput {
    pub record: RunRecord,
    pub trace: Option<Vec<TraceEvent>>,
    /// With `RunOptions::coverage`: the fingerprint transitions seen, as hashes.
    pub coverage: Option<Vec<u64>>,
    /// The simulated world after the run: freed when this is dropped, when the caller chooses.
    pub world: World,
}

/// A finished run's world (every node's state, the network, the history), type-erased: nothing
/// reads it any more, but freeing it is work of its own, done when it is dropped. On
/// `dynamo_10k` cut to 6 s that drop was 15.7 M instructions (1.2% of the run) and, in wall time,
/// about a sixth of the phase after the simulation (freeing cold memory). Handing it back keeps
/// that cost out of the checkers' time and lets a process that exits right after the report skip
/// it ([`World::leak`]); a caller that runs again (a sweep, a benchmark) drops it, or times
/// [`World::free`].
pub struct World {
    /// Held only to be dropped.
    _sim: Box<dyn std::any::Any>,
}

impl World {
    fn new<A: crate::actor::Actor>(sim: Sim<A>) -> World {
        World { _sim: Box::new(sim) }
    }

    /// Frees the world now.
    pub fn free(self) {
        drop(self);
    }

    /// Never frees the world: for a process about to exit, whose memory the system takes back
    /// at once, rather than piece by piece. Every other caller drops it.
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

/// Runs a validated scenario of model `M`. Deterministic: the same scenario and seed give the same
/// record and trace hash.
pub fn run<M: Model>(sc: &Scenario<M::Config>, mut opts: RunOptions<'_>) -> RunOutput {
    let seed = opts.seed.unwrap_or(sc.seed);
    let swarmed;
    let sc = match &sc.swarm {
        None => sc,
        Some(swarm) => {
            let mut c = sc.clone();
            crate::sweep::apply(swarm, seed, &mut c);
            c.swarm = None;
            swarmed = c;
            &swarmed
        }
    };
    let topo = Topology::from_spec(&sc.topology).expect("scenario validated before run");
    let mut faults = sc.faults.schedule.clone();
    if let Some(n) = &sc.faults.nemesis {
        faults.extend(n.expand(&topo, sc.duration, &mut Prng::new(seed, Stream::Nemesis)));
    }
    faults.sort_by_key(|f| f.at);
    let interval = sc.report_interval_or_default();
    let config = SimConfig {
        seed,
        network: sc.network.with_default_transport(M::TRANSPORT),
        disk: sc.disk.clone(),
        faults,
        workload: sc.workload.clone(),
        op_kinds: M::OP_KINDS.to_vec(),
        workload_until: sc.duration,
        max_events: sc.max_events.unwrap_or(MAX_EVENTS_DEFAULT),
        interval,
        trace: opts.trace,
    };
    let mut setup = Prng::new(seed, Stream::Setup);
    let factory = M::factory(&sc.config, &topo, &mut setup);
    let mut sim: Sim<M::Actor> = Sim::new(topo, config, factory);
    if opts.coverage {
        sim.enable_coverage();
    }
    if M::KEEP_CRASHED_ACTORS {
        sim.keep_crashed_actors();
    }
    if opts.trace_without_details {
        sim.trace_without_details();
    }
    let main_end = Time(sc.duration.0);
    let end = main_end + sc.settle;
    let mut stop = run_phase(&mut sim, main_end, end, &mut opts);
    if stop == StopReason::TimeLimit || stop == StopReason::Quiescent {
        // A system gone idle before the main phase ends stays as its faults left it until then
        // (nothing happens meanwhile): a crash without a duration is not healed early.
        sim.idle_until(main_end);
        sim.heal_all();
        sim.start_final_read();
        stop = run_phase(&mut sim, end, end, &mut opts);
    }
    // The simulation is over (a quiet system may stop before `end`): the last call says so, and
    // what follows (the model's checks) is not simulation.
    if let Some(progress) = opts.progress.as_mut() {
        progress(end.max(sim.now()), sim.events_processed(), end);
    }
    sim.tally_fault_hits();
    sim.finish_levels();
    let view = RunView { sim: &sim, main_end, end };
    let mut report = M::report(&sc.config, &view);
    report.tables.extend(sim.probe_table());
    report.tables.extend(sim.probe_writes_table());
    for c in &mut report.checks {
        c.settle_blame(sim.history());
    }
    for c in &report.checks {
        assert!(
            M::CHECKS.contains(&c.name.as_str()),
            "model `{}` reported check `{}`, not in its CHECKS",
            M::NAME,
            c.name
        );
    }
    let mut record = RunRecord::build(
        &sc.name,
        M::NAME,
        seed,
        sim.trace_hash(),
        sim.events_processed(),
        stop,
        main_end,
        end,
        sim.metrics(),
        sim.history(),
        report,
    );
    record.events_skipped = sim.events_skipped();
    RunOutput { record, trace: sim.take_trace(), coverage: sim.coverage(), world: World::new(sim) }
}

fn run_phase<A: crate::actor::Actor>(
    sim: &mut Sim<A>,
    until: Time,
    end: Time,
    opts: &mut RunOptions<'_>,
) -> StopReason {
    let Some(progress) = opts.progress.as_mut() else { return sim.run_until(until) };
    let chunk = Duration((until.0 / 200).max(1_000_000));
    loop {
        let next = (sim.now() + chunk).min(until);
        let stop = sim.run_until(next);
        progress(sim.now(), sim.events_processed(), end);
        if stop != StopReason::TimeLimit || next >= until {
            return stop;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{Actor, Ctx, Message, NodeId};
    use crate::model::{Check, ModelReport};
    use std::cell::Cell;

    thread_local! {
        /// Actors of this test's runs dropped so far (each test runs on a thread of its own).
        static DROPPED: Cell<usize> = const { Cell::new(0) };
    }

    #[derive(Clone, Debug)]
    struct Silence;
    impl Message for Silence {
        fn kind(&self) -> &'static str {
            "silence"
        }
    }

    /// An actor that does nothing but answer its operations at once and count its own drop.
    struct Counted;
    impl Actor for Counted {
        type Msg = Silence;
        type Timer = ();
        type Record = ();
        fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
        fn on_msg(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Silence) {}
        fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: crate::actor::Op) {
            ctx.complete(op.id, crate::actor::Outcome::Ok, crate::actor::Reply::None);
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPPED.with(|d| d.set(d.get() + 1));
        }
    }

    struct Idle;
    impl Model for Idle {
        const NAME: &'static str = "idle";
        const ABOUT: &'static str = "nodes that do nothing";
        const OP_KINDS: &'static [&'static str] = &[];
        const CHECKS: &'static [&'static str] = &["ran"];
        type Config = ();
        type Actor = Counted;
        fn factory(_: &(), _: &Topology, _: &mut Prng) -> Box<dyn FnMut(NodeId) -> Counted> {
            Box::new(|_| Counted)
        }
        fn report(_: &(), run: &RunView<'_, Counted>) -> ModelReport {
            let mut r = ModelReport::default();
            r.checks.push(Check::judged("ran", run.sim.events_processed(), "events processed").passed_if(true));
            r
        }
    }

    /// `Idle` with clients and operations.
    struct Echo;
    impl Model for Echo {
        const NAME: &'static str = "echo";
        const ABOUT: &'static str = "clients that answer at once";
        const OP_KINDS: &'static [&'static str] = &["write", "read"];
        const CHECKS: &'static [&'static str] = Idle::CHECKS;
        type Config = ();
        type Actor = Counted;
        fn factory(c: &(), topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Counted> {
            Idle::factory(c, topo, setup)
        }
        fn report(c: &(), run: &RunView<'_, Counted>) -> ModelReport {
            Idle::report(c, run)
        }
    }

    fn idle_scenario() -> Scenario<()> {
        ron::from_str(r#"(name: "idle", model: "idle", duration: "10ms", topology: (servers: 3, clients: 0))"#).unwrap()
    }

    #[test]
    fn the_world_outlives_the_run_until_its_holder_frees_it() {
        let out = run::<Idle>(&idle_scenario(), RunOptions::default());
        assert_eq!(DROPPED.with(Cell::get), 0, "the run freed its world itself");
        out.world.free();
        assert_eq!(DROPPED.with(Cell::get), 3, "freeing the world drops every node's actor");
    }

    fn echo_run(final_read: &str) -> RunRecord {
        let text = format!(
            r#"(name: "echo", model: "echo", duration: "100ms", settle: "1s", topology: (servers: 1, clients: 3),
                faults: (schedule: [(at: "50ms", fault: Crash(node: 2))]),
                workload: Some((ops: [("write", 1.0)], arrival: OpenLoop(rate_per_s: 500.0), {final_read})))"#
        );
        let sc: Scenario<()> = ron::from_str(&text).unwrap();
        let out = run::<Echo>(&sc, RunOptions::default());
        out.world.free();
        out.record
    }

    #[test]
    fn a_final_read_issues_its_operation_at_every_client_in_each_round_after_the_heal() {
        let without = echo_run("");
        let with = echo_run(r#"final_read: Some((op: "read", every: "100ms"))"#);
        let (reads, writes) = (with.op("read").expect("reads"), with.op("write").expect("writes"));
        // Rounds at 200, 300, ..., 1100 ms (the last at the run's end): ten rounds of three
        // clients, the one crashed at 50 ms among them (restarted by the heal), all answered.
        assert_eq!((reads.total, reads.ok), (30, 30), "{reads:?}");
        assert_eq!(with.counters.get(crate::workload::FINAL_READ_COUNTER), Some(&30));
        // The main phase is the run without the final read, operation for operation.
        assert!(without.op("read").is_none_or(|r| r.total == 0));
        assert_eq!(without.counters.get(crate::workload::FINAL_READ_COUNTER), None);
        let w0 = without.op("write").expect("writes");
        assert!(writes.total > 20 && writes.fail >= 1, "the load ran into the crash: {writes:?}");
        assert_eq!((writes.total, writes.ok, writes.fail), (w0.total, w0.ok, w0.fail));
        assert_ne!(with.trace_hash, without.trace_hash, "the rounds are events of the run");
    }

    #[test]
    fn a_leaked_world_is_never_freed() {
        let out = run::<Idle>(&idle_scenario(), RunOptions::default());
        out.world.leak();
        assert_eq!(DROPPED.with(Cell::get), 0);
    }
}
