//! Every `chat` scenario file through the generic driver and the real verdict, and the controls
//! of the known-bad ones (their cause removed).

use chat::{Chat, Config, MessageIds};
use sim_core::Duration;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Chat>(&path, &text)
}

#[test]
fn the_good_run_survives_a_chat_server_crash_mid_delivery() {
    let (r, _) = testkit::run_as_expected::<Chat>(&load("chat"));
    assert!(measure(&r, "acked") > 1000.0);
    assert_eq!(measure(&r, "messages_lost"), 0.0);
    // The crash cut deliveries: devices of the crashed server reconnected, and messages that
    // never arrived by push were caught up from the store.
    assert!(measure(&r, "reconnects") > 50.0, "{}", measure(&r, "reconnects"));
    assert!(measure(&r, "caught_up") > 50.0, "{}", measure(&r, "caught_up"));
    // Offline members were notified, and messages crossed between chat servers.
    assert!(measure(&r, "notifications") > 100.0);
    assert!(measure(&r, "forwards") > 500.0);
    assert_eq!(measure(&r, "presence_flaps"), 0.0);
    assert!(measure(&r, "presence_wrong_share") < 0.01);
}

#[test]
fn known_bad_server_clock_ids_show_messages_out_of_order() {
    let (r, _) = testkit::run_as_expected::<Chat>(&load("chat_unordered_ids"));
    assert!(measure(&r, "order_violations") > 10.0, "{}", measure(&r, "order_violations"));
    assert_eq!(measure(&r, "messages_lost"), 0.0, "out of order, but nothing lost");
}

/// Control: the same run (the skewed clock included) with per-conversation sequence ids passes.
#[test]
fn control_unordered_ids_pass_with_per_conversation_sequence() {
    let c = testkit::control::<Chat>(&load("chat_unordered_ids"), |sc| sc.config.ids = MessageIds::Sequence, &[]);
    assert_eq!(measure(&c.fixed, "order_violations"), 0.0);
}

#[test]
fn known_bad_a_short_presence_timeout_flaps() {
    let (r, _) = testkit::run_as_expected::<Chat>(&load("chat_presence_flap"));
    assert!(measure(&r, "presence_flaps") > 10.0, "{}", measure(&r, "presence_flaps"));
}

/// Control: the same run with chat.ron's timeout (5 s), above the heartbeat interval plus the tail
/// (a late beat holds up those behind it on its connection).
#[test]
fn control_presence_flap_gone_with_a_timeout_above_the_tail() {
    let c = testkit::control::<Chat>(
        &load("chat_presence_flap"),
        |sc| sc.config.presence.timeout = Duration::from_secs(5),
        &[],
    );
    assert_eq!(measure(&c.fixed, "presence_flaps"), 0.0);
}

/// Without devices connecting nothing is delivered: the progress check fails.
#[test]
fn progress_fails_with_servers_down() {
    testkit::assert_progress_fails_with_servers_down::<Chat>(&load("chat"));
}

/// Push, long polling and polling in one run, a third of the devices each: all three deliver
/// every acknowledged message (the crash included), and the `delivery_cost` table has a row per
/// mode with the mode's own traffic: frames and heartbeats for push, long polls and their
/// answers for long polling, store reads only for polling.
#[test]
fn three_delivery_modes_in_one_run_all_deliver_at_their_own_cost() {
    let (r, _) = testkit::run_as_expected::<Chat>(&load("chat_delivery_modes"));
    assert_eq!(measure(&r, "messages_lost"), 0.0);
    let t = r.model_report.tables.iter().find(|t| t.name == "delivery_cost").expect("delivery_cost table");
    let col = |name: &str| t.columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
    let modes: Vec<f64> = t.rows.iter().map(|row| row[0]).collect();
    assert_eq!(modes, [0.0, 1.0, 2.0], "a row per mode");
    let [push, poll, long] = [&t.rows[0], &t.rows[1], &t.rows[2]];
    for row in [push, poll, long] {
        assert_eq!(row[col("devices")], 120.0);
        assert!(row[col("new arrivals")] > 1000.0, "{row:?}");
    }
    assert!(push[col("frames pushed")] > 1000.0 && push[col("heartbeat pings")] > 1000.0);
    assert_eq!(push[col("long polls")], 0.0);
    assert!(long[col("long polls")] > 1000.0 && long[col("long-poll answers")] > 1000.0);
    assert_eq!((long[col("frames pushed")], long[col("heartbeat pings")]), (0.0, 0.0));
    assert_eq!((poll[col("frames pushed")], poll[col("long polls")]), (0.0, 0.0));
    // A pushed or long-polled message arrives in milliseconds; a polled one waits for the next
    // poll (half the 1 s interval on average).
    let p50 = col("delay p50 ms");
    assert!(push[p50] < 50.0 && long[p50] < 50.0, "{} {}", push[p50], long[p50]);
    assert!(poll[p50] > 200.0, "{}", poll[p50]);
    // The held long polls died with the crashed server and were sent again.
    assert!(measure(&r, "long_polls") > measure(&r, "long_poll_answers"));
}

/// The presence server (n3) crashes for a second at 29 s in the flapping run: the flaps users were
/// shown before it are still counted (its log of shown changes is the world's record, not its
/// memory: the crash used to take 75 of the 198 flaps out of the check).
#[test]
fn a_presence_server_crash_does_not_hide_the_flaps_shown_before_it() {
    let (plain, _) = testkit::run_as_expected::<Chat>(&load("chat_presence_flap"));
    let mut sc = load("chat_presence_flap");
    testkit::add_crash(&mut sc, Duration::from_secs(29), Some(Duration::from_secs(1)), 3);
    let (r, v) = testkit::run_and_judge::<Chat>(&sc, None);
    assert!(v.failed.contains(&"presence_flaps".to_string()), "{:?}", v.failed);
    assert!(
        measure(&r, "presence_flaps") >= measure(&plain, "presence_flaps"),
        "{} against {} without the crash",
        measure(&r, "presence_flaps"),
        measure(&plain, "presence_flaps")
    );
}

/// The presence server (n3) stalls for 10 s at 1.86 s (a process pause; seed 3 of a pause round,
/// `--set 'faults.nemesis=Some((pauses_per_min: 1.5, pause_duration: "10s"))'`). On resume its
/// sweep found every heartbeat 10 s old and showed 136 of 180 connected users offline (for an
/// instant, until the heartbeats queued behind the sweep came in). A sweep that finds the server
/// itself stalled for a timeout now restarts everyone's timeout instead of convicting; the
/// flapping run (heartbeats lost on the way) still flaps.
#[test]
fn a_stalled_presence_server_does_not_show_its_own_pause_as_users_offline() {
    let stall = |sc: &mut Scenario<Config>| {
        sc.seed = 3;
        testkit::add_pause(sc, Duration::from_millis(1_860), Duration::from_secs(10), 3);
    };
    let mut sc = load("chat");
    stall(&mut sc);
    let (r, _) = testkit::run_and_judge::<Chat>(&sc, None);
    assert_eq!(measure(&r, "presence_flaps"), 0.0);
    assert!(r.counters.get("presence_stalls").is_some_and(|&n| n >= 1), "{:?}", r.counters.get("presence_stalls"));
    let mut flapping = load("chat_presence_flap");
    stall(&mut flapping);
    let (r, v) = testkit::run_and_judge::<Chat>(&flapping, None);
    assert!(v.failed.contains(&"presence_flaps".to_string()), "{:?}", v.failed);
    assert!(measure(&r, "presence_flaps") > 10.0, "{}", measure(&r, "presence_flaps"));
}
