#[allow(dead_code)]
mod sweep;

fn main() {}
