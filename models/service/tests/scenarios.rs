//! Every `service` scenario file through the generic driver and the real verdict, and the
//! controls: each known-bad run again with its cause removed.

use parts::balance::{ActiveCheck, HealthSpec};
use service::{Config, Service};
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};
use sim_core::{Dist, Duration};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Service>(&path, &text)
}

/// Each file's bound is about four standard deviations of the ratio over seeds (the files say
/// theirs): 10% at utilisation 0.5 and 0.95, 6% at 0.8.
#[test]
fn mmc_queues_match_erlang_c_within_four_standard_deviations() {
    for (name, utilisation, tol) in
        [("service_mmc_50", 0.5, 0.10), ("service_mmc_80", 0.8, 0.06), ("service_mmc_95", 0.95, 0.10)]
    {
        let (r, _) = testkit::run_as_expected::<Service>(&load(name));
        let ratio = measure(&r, "api_wait_over_mmc");
        assert!((ratio - 1.0).abs() <= tol, "{name}: measured / Erlang C = {ratio}");
        let u = measure(&r, "api_utilisation");
        assert!((u - utilisation).abs() < 0.02, "{name}: utilisation {u}");
        // The kernel's cross-check, from the pool's reported arrivals and services alone, agrees
        // with the model's own computation and with theory.
        let row = r.queueing.stations.iter().find(|s| s.scope == "api").expect("the api pool is a station");
        assert_eq!(row.formula, "M/M/c (Erlang C)", "{name}: {row:?}");
        assert!(!row.approximate, "{name}: {row:?}");
        let generic = row.ratio.expect("a prediction");
        assert!((generic - 1.0).abs() <= tol, "{name}: generic measured / Erlang C = {generic}");
        assert!((generic - ratio).abs() <= 0.01, "{name}: generic {generic} against the model's {ratio}");
        assert!((row.utilisation - utilisation).abs() < 0.02, "{name}: {row:?}");
        assert!((row.arrival_cv2 - 1.0).abs() < 0.05 && (row.service_cv2 - 1.0).abs() < 0.05, "{name}: {row:?}");
        eprintln!("{name}: {row:?}");
        let lq = row.queue_mean.expect("the pool's queue level");
        assert!((lq - row.queue_lambda_w).abs() <= 0.01 * lq, "{name}: Little on the queue: {row:?}");
        let little = r.queueing.little.iter().find(|l| l.kind == "request").expect("requests");
        eprintln!("{name}: {little:?}");
        assert!(little.identity_holds && little.relative_gap.abs() < 0.01, "{name}: {little:?}");
    }
}

/// The M/M/c cross-check is not a tautology: with deterministic service (M/D/4) the queue waits
/// about half as long as Erlang C says, and the same bound fails.
#[test]
fn the_erlang_c_check_fails_when_service_is_not_exponential() {
    let mut sc = load("service_mmc_80");
    sc.config.api.service = Dist::Constant(Duration::from_millis(10));
    sc.duration = Duration::from_secs(300);
    let (r, v) = testkit::run_and_judge::<Service>(&sc, None);
    let ratio = measure(&r, "api_wait_over_mmc");
    assert!(ratio < 0.7, "M/D/4 against M/M/4: {ratio}");
    assert!(v.failed.contains(&"measure.api_wait_over_mmc".to_string()), "{:?}", v.failed);
    // The generic cross-check sees service that is not exponential (Cs^2 = 0) and falls back to
    // Allen-Cunneen, W(M/M/4) (Ca^2 + Cs^2) / 2, marked approximate, which lands much closer.
    let row = r.queueing.stations.iter().find(|s| s.scope == "api").expect("the api pool is a station");
    assert_eq!(row.formula, "G/G/c (Allen-Cunneen)", "{row:?}");
    assert!(row.approximate && row.service_cv2 < 0.01, "{row:?}");
    let generic = row.ratio.expect("a prediction");
    assert!((generic - 1.0).abs() < 0.15, "M/D/4 against Allen-Cunneen: {generic}");
}

#[test]
fn health_checks_take_a_dead_backend_out_of_rotation() {
    let (good, _) = testkit::run_as_expected::<Service>(&load("service_lb_health"));
    let (bad, _) = testkit::run_as_expected::<Service>(&load("service_lb_no_health"));
    // Every client noticed the crash, and far fewer attempts were wasted on the dead server.
    assert_eq!(measure(&good, "lb_marked_down"), 4.0);
    assert_eq!(measure(&bad, "lb_marked_down"), 0.0);
    let (g, b) = (measure(&good, "client_attempt_timeouts"), measure(&bad, "client_attempt_timeouts"));
    assert!(b > 20.0 * g.max(1.0), "timed-out attempts: with health checks {g}, without {b}");
    // Every request that ended Ok arrived at an API server, n1's before its crash at 10 s too:
    // the pools' counts are summed over every incarnation (over the running ones alone, 114,562
    // arrivals for 119,604 requests served at seed 1).
    let served = good.op("request").expect("requests").ok as f64;
    assert!(measure(&good, "api_arrivals") >= served && served > 100_000.0, "{}", measure(&good, "api_arrivals"));
}

/// Control for service_lb_no_health: the same run with health checks added passes, and with the
/// crash removed it passes too (the failure needs both the dead backend and the missing checks).
#[test]
fn control_no_health_passes_with_checks_or_without_the_crash() {
    let mut with_checks = load("service_lb_no_health");
    with_checks.config.health = HealthSpec {
        eject_after: 3,
        eject_for: Duration::from_secs(2),
        active: Some(ActiveCheck {
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(100),
            unhealthy_after: 2,
        }),
        ..HealthSpec::default()
    };
    let (_, v) = testkit::run_and_judge::<Service>(&with_checks, None);
    assert!(v.passed, "{}", testkit::describe_failures(&v));
    let mut no_crash = load("service_lb_no_health");
    no_crash.faults.schedule.clear();
    no_crash.require_fault_effect = false;
    let (_, v) = testkit::run_and_judge::<Service>(&no_crash, None);
    assert!(v.passed, "{}", testkit::describe_failures(&v));
}

#[test]
fn passive_ejection_alone_also_notices() {
    let mut sc = load("service_lb_health");
    sc.config.health.active = None;
    let (r, v) = testkit::run_and_judge::<Service>(&sc, None);
    assert!(measure(&r, "lb_ejections") >= 4.0, "{:?}", r.model_report.measures);
    assert!(v.failed.iter().all(|f| f == "measure.lb_marked_down"), "{:?}", v.failed);
}

/// The parts' overhead benchmark compares the same run two ways: the service over the parts and
/// the same design written inline must make the same draws, timers and messages in the same order.
#[test]
fn the_inline_baseline_is_the_same_run_as_the_parts() {
    let load_perf = |name: &str| {
        let path = format!("{}/../../scenarios/perf/{name}.ron", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let mut parts_sc = testkit::parse_and_validate::<Service>("service_parts.ron", &load_perf("service_parts"));
    let mut inline_sc = testkit::parse_and_validate::<service::inline::ServiceInline>(
        "service_inline.ron",
        &load_perf("service_inline"),
    );
    parts_sc.duration = Duration::from_secs(3);
    inline_sc.duration = Duration::from_secs(3);
    let a = testkit::run_record::<Service>(&parts_sc, None);
    let b = testkit::run_record::<service::inline::ServiceInline>(&inline_sc, None);
    assert!(a.events > 100_000, "{} events", a.events);
    assert_eq!((a.trace_hash.as_str(), a.events), (b.trace_hash.as_str(), b.events));
}
