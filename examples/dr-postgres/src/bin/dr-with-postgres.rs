//! `dr-with-postgres`: the whole `dr` command line plus the `postgres` provider.
//!
//! This is all a team's own `dr` needs: the reference CLI as a library, and a
//! registration hook that adds its providers next to the ones `dr` ships.

fn main() -> std::process::ExitCode {
    dr_cli::main_with(dr_postgres::register)
}
