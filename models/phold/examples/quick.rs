#![allow(clippy::disallowed_methods)]
use phold::bench::*;
use std::time::Instant;
fn main() {
    let arg = std::env::args().nth(1).unwrap_or("medium".into());
    let (name, l, e, t) = SIZES.iter().copied().find(|s| s.0 == arg).unwrap();
    let mut b = Bare::setup(l, e, 42);
    let s = Instant::now();
    let bo = b.run(t);
    let bs = s.elapsed().as_secs_f64();
    drop(b);
    let mut k = Kernel::setup(l, e, 42);
    let s = Instant::now();
    let ko = k.run(t);
    let ks = s.elapsed().as_secs_f64();
    println!(
        "{name} bare {:.2} M/s kernel {:.2} M/s ratio {:.2} ({} / {} events)",
        bo.events as f64 / bs / 1e6,
        ko.events as f64 / ks / 1e6,
        (ko.events as f64 / ks) / (bo.events as f64 / bs),
        bo.events,
        ko.events
    );
}
