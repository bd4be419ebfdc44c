//! Every `checkout` scenario file through the generic driver and the real verdict, the controls
//! (each known-bad run again with its cause removed), and the keyspace events' delivery
//! semantics shown end to end.

use checkout::{Checkout, Config};
use parts::kv;
use sim_core::Duration;
use sim_core::fault::{Fault, ScheduledFault};
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Checkout>(&path, &text)
}

#[test]
fn holds_confirm_refuse_and_expire_back_into_stock() {
    let (r, _) = testkit::run_as_expected::<Checkout>(&load("checkout"));
    // Popular items sell out: the conditional decrement refuses, and refuses only then.
    assert!(measure(&r, "sold_out") > 10.0, "{:?}", r.model_report.measures);
    assert_eq!(measure(&r, "sold_out"), measure(&r, "kv_conflicts"));
    assert_eq!(measure(&r, "bought"), measure(&r, "confirmed"), "every sale a client saw was confirmed");
    // The crashed API server's holds expired; each expiry's event gave its unit back.
    let expired = measure(&r, "kv_expired");
    assert!(expired >= 1.0, "{:?}", r.model_report.measures);
    assert_eq!((measure(&r, "kv_events"), measure(&r, "units_restocked")), (expired, expired));
    // The provider's brownouts met requests, which its retries mostly absorbed.
    let brownouts: Vec<u64> = r.faults[1..].iter().map(|f| f.messages_in_outage).collect();
    assert!(brownouts.iter().all(|&n| n > 100), "{brownouts:?}");
    assert!(measure(&r, "payment_failed") < 0.01 * measure(&r, "bought"), "{:?}", r.model_report.measures);
}

/// checkout.ron crashes API server n1: on some seeds it dies after the store applied a confirm
/// (the hold deleted, the charge through) but before its answer came back. That unit is sold, not
/// leaked: the store's log counts the confirm although no API server lived to count it. The test
/// searches seeds 0..200 for such a run (seed 2 had one when the test was written; the seed moves
/// when anything upstream changes event order) and judges every run it makes.
#[test]
fn a_confirm_whose_answer_died_with_its_server_is_a_sale_not_a_leak() {
    let sc = load("checkout");
    let mut found = None;
    for seed in 0..200 {
        let (r, v) = testkit::run_and_judge::<Checkout>(&sc, Some(seed));
        assert_eq!(measure(&r, "confirmed_in_store"), measure(&r, "confirmed") + measure(&r, "confirms_unanswered"));
        assert_eq!(measure(&r, "units_leaked"), 0.0, "seed {seed}: {:?}", r.model_report.measures);
        testkit::assert_passes(&format!("{} seed {seed}", sc.name), &v);
        if measure(&r, "confirms_unanswered") >= 1.0 {
            found = Some(seed);
            break;
        }
    }
    assert!(found.is_some(), "no seed of 0..200 crashed an API server between a confirm and its answer");
}

/// Redis keyspace notifications are fire-and-forget: with the reaper down when the orphaned
/// holds expire, their events are lost, nothing retries them, and the units leak (never sold
/// twice: `sales_backed` holds).
#[test]
fn keyspace_events_are_fire_and_forget_and_a_down_subscriber_leaks_units() {
    let mut sc = load("checkout");
    sc.faults.schedule.push(ScheduledFault {
        at: Duration::from_secs(15),
        duration: None,
        fault: Fault::Crash { node: 7, power_loss: false, corrupt_unsynced: 0.0 },
    });
    let (r, v) = testkit::run_and_judge::<Checkout>(&sc, None);
    let lost = measure(&r, "kv_events");
    assert!(lost >= 1.0, "{:?}", r.model_report.measures);
    assert_eq!(measure(&r, "units_restocked"), 0.0);
    assert_eq!(measure(&r, "units_leaked"), lost, "one unit per lost event");
    assert_eq!(v.failed, ["measure.units_leaked"], "and nothing else");
}

#[test]
fn a_breaker_keeps_a_provider_outage_to_the_buys() {
    let (good, _) = testkit::run_as_expected::<Checkout>(&load("checkout_provider_outage"));
    let (bad, _) = testkit::run_as_expected::<Checkout>(&load("checkout_provider_outage_no_breaker"));
    assert!(measure(&good, "pay_breaker_rejected") > 100.0);
    assert_eq!(measure(&good, "api_busy"), 0.0, "with the breaker no request is turned away");
    // Without it, the workers fill with buys waiting out timeouts, the queue fills, and the rest
    // of the traffic is turned away.
    assert_eq!(measure(&bad, "pay_breaker_opened"), 0.0);
    assert_eq!(measure(&bad, "api_waiting_max"), 200.0);
    assert!(measure(&bad, "api_busy") > 100.0, "{:?}", bad.model_report.measures);
    assert!(measure(&bad, "pay_attempts") > 1.5 * measure(&good, "pay_attempts"), "retries pile up");
}

/// Control for checkout_provider_outage_no_breaker: without the outage the same configuration
/// passes every check; the failure needs both the outage and the missing breaker.
#[test]
fn control_no_breaker_passes_without_the_outage() {
    let mut sc = load("checkout_provider_outage_no_breaker");
    sc.faults.schedule.clear();
    sc.require_fault_effect = false;
    let (_, v) = testkit::run_and_judge::<Checkout>(&sc, None);
    testkit::assert_passes(&sc.name, &v);
}

#[test]
fn a_primary_power_loss_keeps_synced_writes_and_loses_page_cache_ones() {
    let (good, _) = testkit::run_as_expected::<Checkout>(&load("checkout_kv_crash"));
    let (bad, _) = testkit::run_as_expected::<Checkout>(&load("checkout_kv_page_cache"));
    assert!(good.faults[0].writes_lost <= 2, "only writes in flight, never acknowledged: {:?}", good.faults[0]);
    assert!(bad.faults[0].writes_lost > 100, "the page cache went with the power: {:?}", bad.faults[0]);
    // Reads from the follower carried on while the primary was down.
    assert_eq!(good.op("stock").unwrap().fail + good.op("stock").unwrap().timeout, 0);
}

/// Control for checkout_kv_page_cache: the same store without the power loss passes.
#[test]
fn control_page_cache_passes_without_the_power_loss() {
    let mut sc = load("checkout_kv_page_cache");
    sc.faults.schedule.clear();
    sc.require_fault_effect = false;
    let (_, v) = testkit::run_and_judge::<Checkout>(&sc, None);
    testkit::assert_passes(&sc.name, &v);
}

/// The notes' reaper, keyspace events, with the reaper split off while the crashed API server's
/// orphaned holds expire: their events are lost and their units leak (never sold twice).
#[test]
fn known_bad_lost_keyspace_events_leak_the_units_of_expired_holds() {
    let sc = load("checkout_lost_expiry_events");
    assert_eq!(sc.config.reaper, kv::Reaper::Events);
    let (r, _) = testkit::run_as_expected::<Checkout>(&sc);
    let leaked = measure(&r, "units_leaked");
    assert!(leaked >= 1.0, "{:?}", r.model_report.measures);
    // Every expired hold sent its event; the leaked units are those the reaper never heard of.
    let expired = measure(&r, "kv_expired");
    assert_eq!(measure(&r, "kv_events"), expired);
    assert_eq!(measure(&r, "units_restocked") + leaked, expired, "{:?}", r.model_report.measures);
}

/// Control: the same faults with a sweeping reaper (`reaper: Sweep(every: "1s")`): holds keep a
/// deadline, the store sends no event, the sweeps cut off by the split fail, and the next ones
/// give every unit back: nothing leaks, and no confirm takes a hold past its deadline.
#[test]
fn control_lost_keyspace_events_with_a_sweeping_reaper_leaks_nothing() {
    let mut sc = load("checkout_lost_expiry_events");
    sc.config.reaper = kv::Reaper::Sweep { every: Duration::from_secs(1) };
    sc.expect = Default::default();
    let (r, v) = testkit::run_and_judge::<Checkout>(&sc, None);
    testkit::assert_passes(&sc.name, &v);
    assert_eq!(measure(&r, "units_leaked"), 0.0);
    assert_eq!((measure(&r, "kv_events"), measure(&r, "kv_expired")), (0.0, 0.0), "no TTL, no event");
    let reaped = measure(&r, "holds_reaped");
    assert!(reaped >= 1.0, "{:?}", r.model_report.measures);
    assert_eq!(measure(&r, "units_restocked"), reaped, "one unit per hold");
    assert!(measure(&r, "reaps_failed") >= 1.0, "the split cut some sweeps off");
}
