//! The `gatehouse` binary: everything lives in `gatehouse-server`.
fn main() -> std::process::ExitCode {
    gatehouse_server::main()
}
