//! The other side of a graded test, run as an unrelated process: see `ipc_katas::grader::peer`.

fn main() {
    std::process::exit(ipc_katas::grader::peer::main(std::env::args().skip(1).collect()));
}
