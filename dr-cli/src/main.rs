//! The `dr` binary: the reference command line, as the `dr_cli` library runs it.

fn main() -> std::process::ExitCode {
    dr_cli::main()
}
