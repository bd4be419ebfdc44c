//! The registry's own behaviour, through its entries: a model's panic is caught and reported with
//! its seed, and the progress callback's last call marks the end of the simulation.

use registry::{RunError, RunRequest, entry, find};
use sim_core::{Actor, Ctx, Message, Model, ModelReport, NodeId, Prng, RunView, Time, Topology};

/// A model whose node panics when it starts: a stand-in for a model bug.
struct Buggy;
#[derive(Clone, Debug)]
struct Nothing;
impl Message for Nothing {
    fn kind(&self) -> &'static str {
        "nothing"
    }
}
struct Node;
impl Actor for Node {
    type Msg = Nothing;
    type Timer = ();
    type Record = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        panic!("node {} is buggy", ctx.id());
    }
    fn on_msg(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Nothing) {}
}
impl Model for Buggy {
    const NAME: &'static str = "buggy";
    const ABOUT: &'static str = "panics";
    const OP_KINDS: &'static [&'static str] = &[];
    const CHECKS: &'static [&'static str] = &[];
    type Config = ();
    type Actor = Node;
    fn factory(_: &(), _: &Topology, _: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        Box::new(|_| Node)
    }
    fn report(_: &(), _: &RunView<'_, Node>) -> ModelReport {
        ModelReport::default()
    }
}

#[test]
fn a_model_panic_is_caught_and_reported_with_its_seed() {
    let e = entry::<Buggy>();
    let src = r#"(name: "b", model: "buggy", duration: "1s", seed: 9)"#;
    assert!((e.check)(src).is_ok());
    match (e.run)(src, RunRequest { seed: Some(21), ..Default::default() }) {
        Err(RunError::Panicked { seed, message }) => {
            assert_eq!(seed, 21);
            assert!(message.contains("is buggy"), "{message}");
        }
        _ => panic!("the panic was not caught"),
    }
}

/// The progress bar turns to "checking" on the last progress call: it comes at the run's end,
/// also when the system went quiet before it.
#[test]
fn the_last_progress_call_marks_the_end_of_the_simulation() {
    let src = r#"(name: "p", model: "register", duration: "300ms", settle: "2s",
                  topology: (servers: 3, clients: 1),
                  workload: (ops: [("read", 1.0)], arrival: OpenLoop(rate_per_s: 50.0)))"#;
    let mut calls = Vec::new();
    {
        let mut tick = |now: Time, _: u64, end: Time| calls.push((now, end));
        let req = RunRequest { progress: Some(&mut tick), ..Default::default() };
        assert!((find("register").unwrap().run)(src, req).is_ok());
    }
    let end = Time(2_300_000_000);
    assert_eq!(calls.last(), Some(&(end, end)), "{calls:?}");
    assert!(calls[..calls.len() - 1].iter().all(|c| c.0 <= end));
}

/// The designs whose memory estimate is a lower bound: they state no `Model::footprint`, so the
/// estimate (`simctl run`'s refusal, `--max-memory`, a sweep's jobs) counts only the kernel's
/// parts, and says so. No design is left without a footprint; the list stays, so that a design
/// added without one changes it on purpose.
const WITHOUT_FOOTPRINT: &[&str] = &[];

#[test]
fn the_designs_without_a_footprint_are_the_ones_listed_and_their_estimates_say_so() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<_> = [root.clone(), root.join("perf")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    let mut judged = Vec::new();
    let mut without = Vec::new();
    for e in registry::models() {
        // The model's first library scenario whose estimate can be made.
        let cost = files.iter().find_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains(&format!("model: \"{}\"", e.name)).then(|| (e.cost)(&text, false).ok()).flatten()
        });
        let Some(cost) = cost else { continue };
        judged.push(e.name);
        let shown = cost.to_string();
        if cost.unstated.is_some() {
            assert!(shown.contains("a lower bound"), "{}: {shown}", e.name);
            without.push(e.name);
        } else {
            assert!(!shown.contains("lower bound"), "{}: {shown}", e.name);
        }
    }
    // Every registered design has a scenario (in scenarios/ or scenarios/perf/) whose estimate
    // was made.
    assert_eq!(judged.len(), registry::models().len(), "judged only {judged:?}");
    without.sort_unstable();
    assert_eq!(without, WITHOUT_FOOTPRINT, "judged {} designs: {judged:?}", judged.len());
}
