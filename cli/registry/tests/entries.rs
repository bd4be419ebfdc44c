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
