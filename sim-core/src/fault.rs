//! Faults as plain data: a deterministic schedule ("at T do F, for D") and a random nemesis whose
//! events are drawn from the seed's fault stream *before* the run starts, so every nemesis run has
//! a concrete schedule that can be printed, replayed and shrunk. Models never see fault types.

use crate::net::PartitionSpec;
use crate::rng::Prng;
use crate::time::{Duration, Time};
use crate::topology::Topology;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signed duration for clock steps and offsets: `"-2s"`, `"+150ms"`, `"30ms"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SignedDuration(pub i64);

impl Serialize for SignedDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mag = Duration(self.0.unsigned_abs());
        s.serialize_str(&if self.0 < 0 { format!("-{mag}") } else { mag.to_string() })
    }
}
impl<'de> Deserialize<'de> for SignedDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let t = s.trim();
        let (neg, rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let mag = crate::time::parse_duration(rest).map_err(serde::de::Error::custom)?;
        let v = i64::try_from(mag.0).map_err(|_| serde::de::Error::custom("duration too large"))?;
        Ok(SignedDuration(if neg { -v } else { v }))
    }
}

/// One fault. Node numbers are node ids (servers `0..servers`, then clients).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Fault {
    Partition(PartitionSpec),
    /// Heals every partition.
    Heal,
    /// The process dies: volatile state and timers are lost; messages to it are dropped. With
    /// `power_loss`, writes not yet synced (in flight to the disk, or in the page cache) are lost
    /// too, and with `corrupt_unsynced` a share of them survive torn (detected on restart).
    Crash {
        node: u32,
        #[serde(default)]
        power_loss: bool,
        #[serde(default)]
        corrupt_unsynced: f64,
    },
    Restart(u32),
    /// The node freezes (a stop-the-world GC, a VM migration): nothing it would handle is handled
    /// until it resumes, and then it handles all of it late, with a stale view of the world.
    Pause(u32),
    Resume(u32),
    /// The node's clock jumps by `by` (negative: backwards).
    ClockStep {
        node: u32,
        by: SignedDuration,
    },
    /// The node's clock runs fast (positive) or slow (negative) by `ppm` parts per million.
    ClockDrift {
        node: u32,
        ppm: f64,
    },
    /// Every link loses messages with this probability, on top of its own loss.
    Loss(f64),
    /// Messages sent to or from `node` while it lasts take `extra` longer (a congested switch port,
    /// a slow network card, a saturated sender): the delay at a chosen point that `simctl explore`
    /// places. With `from`, only the messages `from` sends to `node` (one direction of one link:
    /// how the explorer makes two concurrent messages arrive in the other order). A connection
    /// still delivers in send order.
    Delay {
        node: u32,
        extra: Duration,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<u32>,
    },
    /// An outage of the external dependency (a third-party API: payments, email, `isMalicious`)
    /// running on `node`: the node keeps running, but while the outage lasts the part that
    /// implements the dependency answers as `mode` says (it reads the mode through `Ctx::outage`).
    /// Ends with the scheduled `duration`, or at the liveness phase.
    Outage {
        node: u32,
        mode: OutageMode,
    },
}

/// How an external dependency misbehaves during a [`Fault::Outage`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OutageMode {
    /// No answers at all: every request vanishes, its caller times out.
    Down,
    /// Each request is answered with an error (HTTP 5xx) with probability `rate`.
    Errors { rate: f64 },
    /// Every answer comes `extra` late.
    Slow { extra: Duration },
}

impl OutageMode {
    fn label(&self) -> String {
        match self {
            OutageMode::Down => "down".into(),
            OutageMode::Errors { rate } => format!("errors {rate}"),
            OutageMode::Slow { extra } => format!("slow +{extra}"),
        }
    }
}

impl Fault {
    pub fn label(&self) -> String {
        match self {
            Fault::Partition(p) => match p {
                PartitionSpec::Isolate(n) => format!("isolate n{n}"),
                PartitionSpec::Split(g) => format!("split {g:?}"),
                PartitionSpec::OneWay { from, to } => format!("one-way {from:?} -/-> {to:?}"),
                PartitionSpec::Bridge { left, bridge, right } => format!("bridge {left:?}-n{bridge}-{right:?}"),
                PartitionSpec::MajoritiesRing => "majorities ring".into(),
            },
            Fault::Heal => "heal".into(),
            Fault::Crash { node, power_loss: true, .. } => format!("power loss n{node}"),
            Fault::Crash { node, .. } => format!("crash n{node}"),
            Fault::Restart(n) => format!("restart n{n}"),
            Fault::Pause(n) => format!("pause n{n}"),
            Fault::Resume(n) => format!("resume n{n}"),
            Fault::ClockStep { node, by } => format!("clock step n{node} {}", fmt_signed(*by)),
            // To a tenth of a ppm: a nemesis draws rates like 219.81596782893797.
            Fault::ClockDrift { node, ppm } => format!("clock drift n{node} {}ppm", (ppm * 10.0).round() / 10.0),
            Fault::Loss(p) => format!("loss {p}"),
            Fault::Delay { node, extra, from: None } => format!("delay n{node} +{extra}"),
            Fault::Delay { node, extra, from: Some(from) } => format!("delay n{from}->n{node} +{extra}"),
            Fault::Outage { node, mode } => format!("outage n{node} {}", mode.label()),
        }
    }
}

fn fmt_signed(d: SignedDuration) -> String {
    let mag = Duration(d.0.unsigned_abs());
    if d.0 < 0 { format!("-{mag}") } else { format!("+{mag}") }
}

/// "At `at`, do `fault`; undo it after `duration`" (heal the partition, restart the node, resume it,
/// step the clock back, stop the loss). Without a duration the fault lasts until undone by another
/// entry or until the run's liveness phase heals everything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    pub at: Duration,
    #[serde(default)]
    pub duration: Option<Duration>,
    pub fault: Fault,
}

/// Random faults at the given rates (events per minute, over the whole cluster's servers), drawn
/// from the seed before the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    #[serde(default)]
    pub crashes_per_min: f64,
    #[serde(default = "default_down")]
    pub crash_downtime: Duration,
    /// Share of crashes that are power losses (unsynced writes lost).
    #[serde(default)]
    pub power_loss_share: f64,
    #[serde(default)]
    pub partitions_per_min: f64,
    #[serde(default = "default_down")]
    pub partition_duration: Duration,
    #[serde(default)]
    pub pauses_per_min: f64,
    #[serde(default = "default_pause")]
    pub pause_duration: Duration,
    #[serde(default)]
    pub clock_steps_per_min: f64,
    #[serde(default = "default_step")]
    pub clock_step_max: Duration,
    /// Clocks that start running fast or slow: each drift draws a rate uniformly within
    /// `±clock_drift_max_ppm` for one server and lasts `clock_drift_duration` (then the rate is
    /// zero again and the offset it ran up stays, as after a step). A server drifts at one rate at
    /// a time. Drift moves a node's wall clock, its monotonic clock and its timers alike.
    #[serde(default)]
    pub clock_drifts_per_min: f64,
    /// The largest rate drawn, in parts per million (500: the most ntpd will correct).
    #[serde(default = "default_drift_ppm")]
    pub clock_drift_max_ppm: f64,
    #[serde(default = "default_drift_duration")]
    pub clock_drift_duration: Duration,
    /// Faults start no earlier than this.
    #[serde(default)]
    pub start: Duration,
}

fn default_down() -> Duration {
    Duration::from_secs(5)
}
fn default_pause() -> Duration {
    Duration::from_secs(2)
}
fn default_step() -> Duration {
    Duration::from_millis(500)
}
/// A drift rate drawn uniformly within `±max_ppm` (the nemesis's draw, and the explorer's).
pub(crate) fn drift_ppm(rng: &mut Prng, max_ppm: f64) -> f64 {
    (2.0 * rng.unit() - 1.0) * max_ppm
}

pub(crate) fn default_drift_ppm() -> f64 {
    500.0
}
pub(crate) fn default_drift_duration() -> Duration {
    Duration::from_secs(30)
}

impl Default for NemesisSpec {
    fn default() -> Self {
        NemesisSpec {
            crashes_per_min: 0.0,
            crash_downtime: default_down(),
            power_loss_share: 0.0,
            partitions_per_min: 0.0,
            partition_duration: default_down(),
            pauses_per_min: 0.0,
            pause_duration: default_pause(),
            clock_steps_per_min: 0.0,
            clock_step_max: default_step(),
            clock_drifts_per_min: 0.0,
            clock_drift_max_ppm: default_drift_ppm(),
            clock_drift_duration: default_drift_duration(),
            start: Duration::ZERO,
        }
    }
}

/// The faults section of a scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSpec {
    #[serde(default)]
    pub schedule: Vec<ScheduledFault>,
    #[serde(default)]
    pub nemesis: Option<NemesisSpec>,
}

fn check_node(errors: &mut Vec<(String, String)>, path: String, id: u32, topo: &Topology) {
    if !topo.contains(crate::actor::NodeId(id)) {
        errors.push((
            path,
            format!("unknown node {id} (the cluster has nodes 0..{})", topo.node_count().saturating_sub(1)),
        ));
    }
}

impl FaultsSpec {
    /// Checks node ids, probabilities, and the order of crashes and restarts, pauses and resumes.
    pub fn validate(&self, topo: &Topology, run_for: Duration) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut order: Vec<(Time, usize)> = self.schedule.iter().enumerate().map(|(i, f)| (Time(f.at.0), i)).collect();
        order.sort();
        // Per node: down / paused, walked in time order.
        let mut down = std::collections::BTreeMap::<u32, bool>::new();
        let mut paused = std::collections::BTreeMap::<u32, bool>::new();
        for (i, f) in self.schedule.iter().enumerate() {
            let path = format!("faults.schedule[{i}]");
            if f.at > run_for {
                errors.push((format!("{path}.at"), format!("{} is after the end of the run ({run_for})", f.at)));
            }
            match &f.fault {
                Fault::Partition(p) => p.validate(&format!("{path}.fault.Partition"), topo, &mut errors),
                Fault::Crash { node, corrupt_unsynced, .. } => {
                    check_node(&mut errors, format!("{path}.fault.Crash.node"), *node, topo);
                    if !(0.0..=1.0).contains(corrupt_unsynced) {
                        errors.push((
                            format!("{path}.fault.Crash.corrupt_unsynced"),
                            format!("a probability must be within [0, 1], got {corrupt_unsynced}"),
                        ));
                    }
                }
                Fault::Restart(n) => check_node(&mut errors, format!("{path}.fault.Restart"), *n, topo),
                Fault::Pause(n) => check_node(&mut errors, format!("{path}.fault.Pause"), *n, topo),
                Fault::Resume(n) => check_node(&mut errors, format!("{path}.fault.Resume"), *n, topo),
                Fault::ClockStep { node, .. } => {
                    check_node(&mut errors, format!("{path}.fault.ClockStep.node"), *node, topo)
                }
                Fault::ClockDrift { node, ppm } => {
                    check_node(&mut errors, format!("{path}.fault.ClockDrift.node"), *node, topo);
                    if !(ppm.is_finite() && ppm.abs() < CLOCK_DRIFT_PPM_LIMIT) {
                        errors.push((
                            format!("{path}.fault.ClockDrift.ppm"),
                            format!("must be finite and within (-1e6, 1e6), got {ppm}"),
                        ));
                    }
                }
                Fault::Loss(p) => {
                    if !(0.0..=1.0).contains(p) {
                        errors.push((
                            format!("{path}.fault.Loss"),
                            format!("a probability must be within [0, 1], got {p}"),
                        ));
                    }
                }
                Fault::Outage { node, mode } => {
                    check_node(&mut errors, format!("{path}.fault.Outage.node"), *node, topo);
                    match mode {
                        OutageMode::Errors { rate } if !(0.0..=1.0).contains(rate) => errors.push((
                            format!("{path}.fault.Outage.mode.Errors.rate"),
                            format!("a probability must be within [0, 1], got {rate}"),
                        )),
                        OutageMode::Slow { extra } if extra.0 == 0 => {
                            errors.push((format!("{path}.fault.Outage.mode.Slow.extra"), "must be positive".into()))
                        }
                        _ => {}
                    }
                }
                Fault::Delay { node, extra, from } => {
                    check_node(&mut errors, format!("{path}.fault.Delay.node"), *node, topo);
                    if let Some(from) = from {
                        check_node(&mut errors, format!("{path}.fault.Delay.from"), *from, topo);
                    }
                    if extra.0 == 0 {
                        errors.push((format!("{path}.fault.Delay.extra"), "must be positive".into()));
                    }
                }
                Fault::Heal => {}
            }
        }
        for (_, i) in order {
            let f = &self.schedule[i];
            let path = format!("faults.schedule[{i}].fault");
            match f.fault {
                Fault::Crash { node, .. } if down.insert(node, f.duration.is_none()) == Some(true) => {
                    errors.push((path, format!("node {node} is crashed again before it was restarted")));
                }
                Fault::Restart(node) if down.insert(node, false) != Some(true) => {
                    errors.push((path, format!("restart of node {node}, which is not crashed at {}", f.at)));
                }
                Fault::Pause(node) => {
                    paused.insert(node, f.duration.is_none());
                }
                Fault::Resume(node) if paused.insert(node, false) != Some(true) => {
                    errors.push((path, format!("resume of node {node}, which is not paused at {}", f.at)));
                }
                _ => {}
            }
        }
        if let Some(n) = &self.nemesis {
            for (field, r) in NemesisSpec::RATE_FIELDS.into_iter().zip(n.rates()) {
                if !(r.is_finite() && r >= 0.0) {
                    errors.push((format!("faults.nemesis.{field}"), format!("must be a finite rate >= 0, got {r}")));
                }
            }
            if !(n.clock_drift_max_ppm.is_finite() && (0.0..CLOCK_DRIFT_PPM_LIMIT).contains(&n.clock_drift_max_ppm)) {
                errors.push((
                    "faults.nemesis.clock_drift_max_ppm".into(),
                    format!(
                        "must be finite and within [0, 1e6) (a clock at -1e6 ppm stands still), got {}",
                        n.clock_drift_max_ppm
                    ),
                ));
            }
            if !(0.0..=1.0).contains(&n.power_loss_share) {
                errors.push((
                    "faults.nemesis.power_loss_share".into(),
                    format!("a probability must be within [0, 1], got {}", n.power_loss_share),
                ));
            }
            if topo.servers.is_empty() {
                errors.push(("faults.nemesis".into(), "the nemesis needs servers to hit".into()));
            }
            let spans = [
                ("crash_downtime", n.crash_downtime),
                ("partition_duration", n.partition_duration),
                ("pause_duration", n.pause_duration),
                ("clock_drift_duration", n.clock_drift_duration),
            ];
            for (field, d) in spans {
                if d < NEMESIS_SPAN_MIN {
                    errors.push((
                        format!("faults.nemesis.{field}"),
                        format!("must be at least {NEMESIS_SPAN_MIN}, got {d}"),
                    ));
                }
            }
            if n.start >= run_for {
                errors.push((
                    "faults.nemesis.start".into(),
                    format!("{} is not before the end of the run ({run_for}): the nemesis would do nothing", n.start),
                ));
            }
            errors.extend(n.check_fault_count("faults.nemesis", run_for));
        }
        errors
    }
}

/// A nemesis may draw at most this many faults over a run (on average): each one is an event, a
/// row of the report and a shaded window on every plot, and drawing them takes time before the run.
pub const NEMESIS_FAULTS_MAX: f64 = 100_000.0;

/// A clock's drift stays strictly within this many ppm either way (at -1e6 it stands still).
pub const CLOCK_DRIFT_PPM_LIMIT: f64 = 1e6;

/// The shortest crash, partition or pause a nemesis may draw.
pub const NEMESIS_SPAN_MIN: Duration = Duration::from_micros(1);

impl NemesisSpec {
    /// The number of faults the nemesis draws over a run of `run_for`, on average (before the ones
    /// skipped because their node or the network is already faulty).
    pub fn expected_faults(&self, run_for: Duration) -> f64 {
        let per_min: f64 = self.rates().iter().sum();
        per_min * (run_for - self.start).as_secs_f64() / 60.0
    }

    /// The rate fields, in the order of [`NemesisSpec::rates`] (the kinds [`NemesisSpec::expand`]
    /// draws from).
    pub const RATE_FIELDS: [&'static str; 5] =
        ["crashes_per_min", "partitions_per_min", "pauses_per_min", "clock_steps_per_min", "clock_drifts_per_min"];

    /// The rates per minute of each kind of fault, in [`NemesisSpec::RATE_FIELDS`] order.
    pub fn rates(&self) -> [f64; 5] {
        [
            self.crashes_per_min,
            self.partitions_per_min,
            self.pauses_per_min,
            self.clock_steps_per_min,
            self.clock_drifts_per_min,
        ]
    }

    /// A problem at `path` if the rates draw more than [`NEMESIS_FAULTS_MAX`] faults over the run.
    pub fn check_fault_count(&self, path: &str, run_for: Duration) -> Option<(String, String)> {
        let expected = self.expected_faults(run_for);
        (expected > NEMESIS_FAULTS_MAX).then(|| {
            (
                path.to_string(),
                format!(
                    "these rates draw about {expected:.3e} faults over the run, more than the limit of {NEMESIS_FAULTS_MAX:.0}; \
                     lower the rates or shorten the run"
                ),
            )
        })
    }

    /// Draws a concrete schedule over `[start, until)` from the fault stream. A node gets at most one
    /// crash or pause at a time, and one drift at a time; partitions are isolations or random halves of the servers.
    pub fn expand(&self, topo: &Topology, until: Duration, rng: &mut Prng) -> Vec<ScheduledFault> {
        let mut out = Vec::new();
        let servers = topo.servers.len() as u32;
        if servers == 0 {
            return out;
        }
        let mut busy_until = vec![Duration::ZERO; servers as usize];
        let mut partition_until = Duration::ZERO;
        let mut drifting_until = vec![Duration::ZERO; servers as usize];
        let kinds = self.rates();
        let total_per_min: f64 = kinds.iter().sum();
        if total_per_min <= 0.0 {
            return out;
        }
        let mean_gap_ns = 60e9 / total_per_min;
        let mut t = self.start.0 as f64;
        loop {
            t += rng.exp(mean_gap_ns);
            if t >= until.0 as f64 {
                break;
            }
            let at = Duration(t as u64);
            let node = rng.below(servers as u64) as u32;
            match rng.weighted(&kinds) {
                0 => {
                    if busy_until[node as usize] > at {
                        continue;
                    }
                    let power_loss = rng.chance(self.power_loss_share);
                    busy_until[node as usize] = at + self.crash_downtime;
                    out.push(ScheduledFault {
                        at,
                        duration: Some(self.crash_downtime),
                        fault: Fault::Crash { node, power_loss, corrupt_unsynced: 0.0 },
                    });
                }
                1 => {
                    if partition_until > at {
                        continue;
                    }
                    partition_until = at + self.partition_duration;
                    let spec = if rng.chance(0.5) || servers < 4 {
                        PartitionSpec::Isolate(node)
                    } else {
                        let mut left = Vec::new();
                        let mut right = Vec::new();
                        for s in 0..servers {
                            if rng.chance(0.5) { left.push(s) } else { right.push(s) }
                        }
                        PartitionSpec::Split(vec![left, right])
                    };
                    out.push(ScheduledFault {
                        at,
                        duration: Some(self.partition_duration),
                        fault: Fault::Partition(spec),
                    });
                }
                2 => {
                    if busy_until[node as usize] > at {
                        continue;
                    }
                    busy_until[node as usize] = at + self.pause_duration;
                    out.push(ScheduledFault { at, duration: Some(self.pause_duration), fault: Fault::Pause(node) });
                }
                // (Without drifts the last weight is zero: the draws are those of a nemesis that
                // never knew drifts, even where rounding lands past the last positive weight.)
                4 if self.clock_drifts_per_min > 0.0 => {
                    if drifting_until[node as usize] > at {
                        continue;
                    }
                    let ppm = drift_ppm(rng, self.clock_drift_max_ppm);
                    drifting_until[node as usize] = at + self.clock_drift_duration;
                    out.push(ScheduledFault {
                        at,
                        duration: Some(self.clock_drift_duration),
                        fault: Fault::ClockDrift { node, ppm },
                    });
                }
                _ => {
                    let mag = rng.below(self.clock_step_max.0.max(1)) as i64;
                    let by = if rng.chance(0.5) { -mag } else { mag };
                    out.push(ScheduledFault {
                        at,
                        duration: None,
                        fault: Fault::ClockStep { node, by: SignedDuration(by) },
                    });
                }
            }
        }
        out
    }
}

/// A node's local clock: `local = true + offset + drift * (true - drift_since)`. Its monotonic
/// clock runs at the same rate but is never stepped: `monotonic = local - steps`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    offset_ns: i64,
    drift_ppm: f64,
    drift_since: u64,
    /// The sum of the steps, part of `offset_ns`.
    stepped_ns: i64,
}

impl Clock {
    pub fn local(&self, t: Time) -> Time {
        self.readings(t).0
    }
    /// Both readings at true time `t`, from one computation of the drift: `(local, monotonic)`,
    /// the monotonic clock being the local clock without the steps, so it drifts with it and never
    /// goes back. The kernel hands both to every handler of a node with a clock fault.
    pub fn readings(&self, t: Time) -> (Time, Time) {
        let drift =
            if self.drift_ppm == 0.0 { 0 } else { ((t.0 - self.drift_since) as f64 * self.drift_ppm / 1e6) as i64 };
        let unstepped =
            (t.0 as i64).saturating_add(self.offset_ns.saturating_sub(self.stepped_ns)).saturating_add(drift);
        let local = unstepped.saturating_add(self.stepped_ns);
        (Time(local.max(0) as u64), Time(unstepped.max(0) as u64))
    }
    pub fn step(&mut self, by: i64) {
        self.offset_ns = self.offset_ns.saturating_add(by);
        self.stepped_ns = self.stepped_ns.saturating_add(by);
    }
    pub fn set_drift(&mut self, now: Time, ppm: f64) {
        // Fold the drift so far into the offset, then drift at the new rate from now on.
        let so_far = self.local(now).0 as i64 - now.0 as i64;
        self.offset_ns = so_far;
        self.drift_since = now.0;
        self.drift_ppm = ppm;
    }
    /// The true-time span that `local` of this clock's time takes.
    pub fn true_span(&self, local: Duration) -> Duration {
        if self.drift_ppm == 0.0 {
            local
        } else {
            Duration::from_secs_f64(local.as_secs_f64() / (1.0 + self.drift_ppm / 1e6))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_steps_and_drifts() {
        let mut c = Clock::default();
        assert_eq!(c.local(Time(1_000)), Time(1_000));
        c.step(-500);
        assert_eq!(c.local(Time(1_000)), Time(500));
        c.set_drift(Time(1_000), 1000.0); // 0.1% fast
        assert_eq!(c.local(Time(1_001_000)), Time(1_001_000 - 500 + 1_000));
        assert_eq!(c.true_span(Duration(1_001_000)), Duration(1_000_000));
        // The monotonic clock drifts with it but was never stepped back.
        assert_eq!(c.readings(Time(1_000)).1, Time(1_000));
        assert_eq!(c.readings(Time(1_001_000)).1, Time(1_001_000 + 1_000));
        c.set_drift(Time(1_001_000), 0.0);
        c.step(2_000);
        assert_eq!(c.local(Time(2_001_000)), Time(2_001_000 - 500 + 1_000 + 2_000));
        assert_eq!(c.readings(Time(2_001_000)).1, Time(2_001_000 + 1_000), "the drift so far stays, no step");
        // A step back past the epoch pins the local clock at zero; the monotonic clock runs on.
        let mut early = Clock::default();
        early.step(-5_000);
        assert_eq!(early.readings(Time(3_000)), (Time(0), Time(3_000)));
        assert_eq!(early.readings(Time(8_000)), (Time(3_000), Time(8_000)));
    }

    #[test]
    fn signed_durations_parse() {
        let d: SignedDuration = ron::from_str("\"-2s\"").unwrap();
        assert_eq!(d, SignedDuration(-2_000_000_000));
        let d: SignedDuration = ron::from_str("\"+150ms\"").unwrap();
        assert_eq!(d, SignedDuration(150_000_000));
    }

    #[test]
    fn restart_before_crash_is_rejected() {
        let topo = Topology::simple(3, 1);
        let spec = FaultsSpec {
            schedule: vec![
                ScheduledFault { at: Duration::from_secs(1), duration: None, fault: Fault::Restart(1) },
                ScheduledFault {
                    at: Duration::from_secs(2),
                    duration: None,
                    fault: Fault::Crash { node: 1, power_loss: false, corrupt_unsynced: 0.0 },
                },
                ScheduledFault {
                    at: Duration::from_secs(3),
                    duration: None,
                    fault: Fault::Partition(PartitionSpec::Isolate(9)),
                },
            ],
            nemesis: None,
        };
        let errors = spec.validate(&topo, Duration::from_secs(10));
        assert!(errors.iter().any(|(p, m)| p == "faults.schedule[0].fault" && m.contains("not crashed")), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|(p, m)| p.starts_with("faults.schedule[2].fault.Partition") && m.contains("unknown node 9")),
            "{errors:?}"
        );
    }

    #[test]
    fn nemesis_is_deterministic_and_respects_rates() {
        let topo = Topology::simple(5, 1);
        let n = NemesisSpec { crashes_per_min: 6.0, partitions_per_min: 3.0, ..Default::default() };
        let a = n.expand(&topo, Duration::from_secs(600), &mut Prng::new(1, crate::rng::Stream::Faults));
        let b = n.expand(&topo, Duration::from_secs(600), &mut Prng::new(1, crate::rng::Stream::Faults));
        assert_eq!(a, b);
        let crashes = a.iter().filter(|f| matches!(f.fault, Fault::Crash { .. })).count();
        // 60 expected, fewer when a node is already down.
        assert!((30..=75).contains(&crashes), "{crashes}");
    }

    #[test]
    fn nemesis_drifts_stay_within_their_rate_and_one_at_a_time_per_server() {
        let topo = Topology::simple(4, 1);
        let n = NemesisSpec {
            clock_drifts_per_min: 8.0,
            clock_drift_max_ppm: 2_000.0,
            clock_drift_duration: Duration::from_secs(20),
            ..Default::default()
        };
        let until = Duration::from_secs(600);
        let drifts: Vec<(Duration, u32, f64)> = n
            .expand(&topo, until, &mut Prng::new(3, crate::rng::Stream::Faults))
            .into_iter()
            .map(|f| match f.fault {
                Fault::ClockDrift { node, ppm } if f.duration == Some(Duration::from_secs(20)) => (f.at, node, ppm),
                other => panic!("only drifts of 20 s: {other:?}"),
            })
            .collect();
        // 80 drawn; a server already drifting (20 s of each 30 s per server, on average) skips.
        assert!((25..=80).contains(&drifts.len()), "{}", drifts.len());
        assert!(drifts.iter().all(|&(_, node, ppm)| node < 4 && ppm.abs() <= 2_000.0));
        assert!(drifts.iter().any(|d| d.2 > 1_000.0) && drifts.iter().any(|d| d.2 < -1_000.0), "both ways");
        for node in 0..4 {
            let at: Vec<Duration> = drifts.iter().filter(|d| d.1 == node).map(|d| d.0).collect();
            assert!(
                at.windows(2).all(|w| w[1] >= w[0] + Duration::from_secs(20)),
                "server {node} drifts twice at once"
            );
        }
        // The rates count toward the limit and validate like the others.
        assert_eq!(n.expected_faults(until), 80.0);
        assert_eq!(Fault::ClockDrift { node: 2, ppm: 219.81596782893797 }.label(), "clock drift n2 219.8ppm");
        assert_eq!(Fault::ClockDrift { node: 2, ppm: -1000.0 }.label(), "clock drift n2 -1000ppm");
        let bad = FaultsSpec {
            schedule: Vec::new(),
            nemesis: Some(NemesisSpec { clock_drifts_per_min: -1.0, clock_drift_max_ppm: 1e6, ..n }),
        };
        let paths: Vec<String> = bad.validate(&topo, until).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["faults.nemesis.clock_drifts_per_min", "faults.nemesis.clock_drift_max_ppm"]);
    }

    #[test]
    fn outages_parse_label_and_validate() {
        let f: Fault = ron::from_str("Outage(node: 3, mode: Errors(rate: 0.25))").unwrap();
        assert_eq!(f, Fault::Outage { node: 3, mode: OutageMode::Errors { rate: 0.25 } });
        assert_eq!(f.label(), "outage n3 errors 0.25");
        let slow: Fault = ron::from_str("Outage(node: 1, mode: Slow(extra: \"2s\"))").unwrap();
        assert_eq!(slow.label(), "outage n1 slow +2s");
        assert_eq!(Fault::Outage { node: 0, mode: OutageMode::Down }.label(), "outage n0 down");
        let topo = Topology::simple(3, 1);
        let at = |fault| ScheduledFault { at: Duration::from_secs(1), duration: Some(Duration::from_secs(1)), fault };
        let spec = FaultsSpec {
            schedule: vec![
                at(Fault::Outage { node: 7, mode: OutageMode::Down }),
                at(Fault::Outage { node: 1, mode: OutageMode::Errors { rate: 1.5 } }),
                at(Fault::Outage { node: 1, mode: OutageMode::Slow { extra: Duration::ZERO } }),
                at(Fault::Outage { node: 2, mode: OutageMode::Slow { extra: Duration::from_millis(5) } }),
            ],
            nemesis: None,
        };
        let errors = spec.validate(&topo, Duration::from_secs(10));
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "faults.schedule[0].fault.Outage.node",
                "faults.schedule[1].fault.Outage.mode.Errors.rate",
                "faults.schedule[2].fault.Outage.mode.Slow.extra"
            ],
            "{errors:?}"
        );
    }
}
