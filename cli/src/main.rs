//! `kaksik`: one binary for the server, the device simulator, the RP client
//! and the operator.
fn main() {}
