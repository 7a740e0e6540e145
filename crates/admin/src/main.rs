//! The `embedgate` binary.

fn main() -> std::process::ExitCode {
    embedgate_admin::cli::main()
}
