use phold::bench::*;
fn main() {
    let mut b = Bare::setup(1024, 16, 42);
    let o = b.run(100.0);
    println!("{}", o.events);
}
