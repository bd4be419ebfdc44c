//! One PHOLD run of one implementation, for profilers (callgrind, perf) that count instructions or
//! cache misses of the process: `cargo run --release -p phold --example phold_once -- kernel small`.
//! No timing here (nothing under models/ reads a clock); `simctl bench phold` times.

use phold::bench::{Bare, Kernel, SIZES};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("kernel", String::as_str);
    let size = args.get(2).map_or("small", String::as_str);
    let Some(&(_, l, e, t)) = SIZES.iter().find(|s| s.0 == size) else {
        eprintln!("usage: phold_once [bare|kernel] [small|medium|large|huge]");
        std::process::exit(2);
    };
    let out = match which {
        "bare" => Bare::setup(l, e, 42).run(t),
        "kernel" => Kernel::setup(l, e, 42).run(t),
        _ => {
            eprintln!("usage: phold_once [bare|kernel] [small|medium|large|huge]");
            std::process::exit(2);
        }
    };
    println!("{which} {size}: events={} pending={}", out.events, out.pending);
}
