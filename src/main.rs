//! Sockeye: see which processes use the network.

fn main() {}
