//! Every `comments` scenario file through the generic driver and the real verdict, and the
//! control: the split-membership run again with the routers reading the membership as the
//! consumers do.

use comments::{Comments, Config};
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Comments>(&path, &text)
}

#[test]
fn the_good_run_delivers_every_comment_to_its_settled_viewers_within_the_sla() {
    let r = testkit::run_as_expected::<Comments>(&load("comments")).0;
    assert!(measure(&r, "pairs_judged") > 50_000.0, "{}", measure(&r, "pairs_judged"));
    assert_eq!(measure(&r, "pairs_lost"), 0.0);
    assert!(measure(&r, "delivery_p99_ms") < 200.0);
    // The leave and the joins moved viewers, and comments around them were late more often.
    assert!(measure(&r, "viewers_moved") > 0.0);
    assert!(measure(&r, "late_share_churn") > measure(&r, "late_share_steady"));
}

#[test]
fn progress_fails_with_the_servers_down() {
    testkit::assert_progress_fails_with_servers_down::<Comments>(&load("comments"));
}

#[test]
fn control_split_membership() {
    let c = testkit::control::<Comments>(
        &load("comments_split_membership"),
        |sc| sc.config.router_lag = sc.config.consumer_lag,
        &[],
    );
    assert!(measure(&c.original, "pairs_lost") > 1000.0, "{}", measure(&c.original, "pairs_lost"));
    assert!(measure(&c.original, "misroutes") > 50.0);
    assert_eq!(measure(&c.fixed, "pairs_lost"), 0.0);
    assert_eq!(measure(&c.fixed, "misroutes"), 0.0);
}
