//! The `liveramp` operator command (being built).
fn main() {}
