//! Scripted and recorded workloads through the binary: a trace file replays exactly as the same
//! operations listed in the scenario, and a bad trace is named by file and line.

use crate::support::{read_json, scratch, simctl, write_scenario};

fn scenario(arrival: &str) -> String {
    format!(
        r#"Scenario(
    name: "t",
    model: "register",
    seed: 3,
    duration: "1s",
    settle: "200ms",
    topology: (servers: 3, clients: 2),
    workload: Some((arrival: {arrival})),
    invariants: ["fresh_reads"],
    slas: [Availability(op: None, min: 0.99, window: All)],
)"#
    )
}

#[test]
fn a_trace_replays_exactly_as_the_same_script() {
    let dir = scratch("trace_equals_script");
    std::fs::write(dir.join("t.csv"), "at,op,key,client\n0.010,write,1,0\n0.0105,read,1,1\n0.5,read,1,0\n").unwrap();
    std::fs::write(
        dir.join("t.jsonl"),
        "{\"at\": \"10ms\", \"op\": \"write\", \"key\": 1}\n{\"at\": 0.0105, \"op\": \"read\", \"key\": 1, \"client\": 1}\n\
         {\"at\": \"500ms\", \"op\": \"read\", \"key\": 1}\n",
    )
    .unwrap();
    let script = r#"Script(ops: [(at: "10ms", op: "write", key: 1), (at: "10500us", op: "read", key: 1, client: 1), (at: "500ms", op: "read", key: 1)])"#;
    let mut hashes = Vec::new();
    for (name, arrival) in [
        ("script", script.to_string()),
        ("csv", r#"Trace(file: "t.csv")"#.to_string()),
        ("jsonl", r#"Trace(file: "t.jsonl")"#.to_string()),
    ] {
        let file = write_scenario(&dir, &format!("{name}.ron"), &scenario(&arrival));
        let out = dir.join(name);
        let r = simctl(&["run", &file, "--out", out.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
        let json = read_json(&out.join("summary.json"));
        let total: u64 = json["ops"].as_array().unwrap().iter().map(|o| o["total"].as_u64().unwrap()).sum();
        assert_eq!(total, 3, "{name}: exactly the listed operations");
        hashes.push(json["trace_hash"].as_str().unwrap().to_string());
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
}

#[test]
fn a_bad_trace_is_named_by_file_and_line() {
    let dir = scratch("bad_trace");
    std::fs::write(dir.join("t.csv"), "0.010,write,1\n0.020,read,one\n").unwrap();
    let file = write_scenario(&dir, "s.ron", &scenario(r#"Trace(file: "t.csv")"#));
    let r = simctl(&["run", &file]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("s.ron:8:") && r.stderr.contains("workload.arrival.file"), "{}", r.stderr);
    assert!(r.stderr.contains("t.csv:2: key `one` is not a whole number"), "{}", r.stderr);
    // An operation the model does not have, and a client that does not exist.
    std::fs::write(dir.join("t.csv"), "0.010,write,1\n0.020,scan,1,5\n").unwrap();
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("workload.arrival.ops[1].op: unknown operation `scan`")
            || r.stderr.contains("workload.arrival.ops[1].op: unknown operation `scan`"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        (r.stdout.clone() + &r.stderr).contains("workload.arrival.ops[1].client: client 5 does not exist"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}
