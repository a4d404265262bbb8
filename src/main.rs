//! The `gatehouse` binary: everything lives in `gatehouse-server`.

#![forbid(unsafe_code)]
fn main() -> std::process::ExitCode {
    gatehouse_server::main()
}
