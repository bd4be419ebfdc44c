use phold::bench::*;
fn main() {
    let mut k = Kernel::setup(1024, 16, 42);
    let o = k.run(100.0);
    println!("{}", o.events);
}
