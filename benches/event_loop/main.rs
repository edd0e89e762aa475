//! One epoll loop against a thread per client, measured side by side.
//!
//! `cargo bench --features bench --bench event_loop` forks each server in its own process,
//! pinned to the second usable CPU, while this process, pinned to the first, drives C = 1, 10,
//! 100 and 1000 connected clients over a Unix stream socket from one epoll-based thread: each
//! client sends a 64-byte line and waits for its answer (the line reversed), over and over. The
//! servers:
//! - the reference answer of kata `event_loop::serve_many` (one thread, one epoll instance);
//! - a thread per accepted client, written here, blocking in `BufReader::read_until`.
//!
//! Per server and C it measures the wall time per round trip, the server's CPU time
//! (utime + stime) and context switches (voluntary + involuntary, summed over its threads) per
//! round trip, its thread count and its peak resident set (VmHWM). Five rounds alternate the
//! two servers (epoll, threads, epoll, ...); the report gives the medians over the rounds and
//! the ratios thread ÷ epoll taken within each round, then their median. It prints a Markdown
//! table and writes it to `target/event-loop-bench/report.md`.
//!
//! `cargo bench --features bench --bench event_loop -- 100 1000` measures only those C. Run
//! without `--bench` (`cargo test --features bench --bench event_loop`), it does one short round of
//! C = 1 and 10 as a smoke test and writes nothing.

mod driver;
#[path = "../common/machine.rs"]
mod machine;
mod procfs;
mod report;
mod servers;

// The reference answer under test, compiled into the bench whatever the library's features are.
#[path = "../../solutions/event_loop/serve_many.rs"]
mod serve_many;

use std::io;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use driver::Clients;
use machine::usable_cpus;
use report::Sample;
use servers::{Running, Server};

/// How long any wait gives the other process before the run fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How many alternating rounds.
const ROUNDS: usize = 5;
/// The numbers of connected clients.
const CLIENTS: [usize; 4] = [1, 10, 100, 1000];
/// Untimed round trips per client first: every client connected, accepted and answered once
/// (so the thread-per-client server has started all its threads), and the caches warm.
pub const WARM_UP: usize = 2;

/// How long each server is timed with each C: long enough for the server's CPU time, counted
/// in ticks of 10 ms, to be a few per cent exact, short enough for the 40 runs to take about
/// two minutes. A fixed time rather than a fixed count keeps the run's length whatever the
/// load on the machine.
const TIMED: Duration = Duration::from_secs(2);
/// The same, in the smoke test.
const SMOKE: Duration = Duration::from_millis(100);

/// Pins the calling thread (and whatever it forks or spawns later) to the `which`-th usable
/// CPU; does nothing with fewer than two, where client and server must share one anyway.
pub fn pin(which: usize) -> io::Result<()> {
    let cpus = usable_cpus();
    if cpus.len() < 2 {
        return Ok(());
    }
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; the CPU came from a cpu_set_t, so it is in range.
    unsafe { libc::CPU_SET(cpus[which.min(cpus.len() - 1)], &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft limit on open files to the hard limit if `needed` descriptors would not fit
/// (the client side and each server hold one per client); says what it did.
fn raise_open_files(needed: u64) -> String {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return "RLIMIT_NOFILE: could not read it".into();
    }
    let before = limit.rlim_cur;
    if before >= needed {
        return format!("RLIMIT_NOFILE soft limit {before}, enough (not raised)");
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit; raising the soft limit up to the hard one is allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return format!("RLIMIT_NOFILE soft limit {before}: raising it failed ({})", io::Error::last_os_error());
    }
    format!("RLIMIT_NOFILE soft limit raised from {before} to the hard limit {}", limit.rlim_max)
}

/// Whether C clients fit the open-files limit (with room for the other descriptors).
fn fits(clients: usize) -> bool {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit to fill.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    clients as u64 + 64 <= limit.rlim_cur
}

/// One measurement: a fresh server with `clients` clients, timed for `timed`.
fn measure(server: Server, clients: usize, timed: Duration) -> io::Result<Sample> {
    let dir = tempfile::Builder::new().prefix("event-loop-bench").tempdir()?;
    let path = dir.path().join("server.sock");
    let running = Running::start(server, UnixListener::bind(&path)?)?;
    let pid = running.pid();
    let mut conns = Clients::connect(&path, clients)?;
    conns.run(WARM_UP, None)?;
    let before = procfs::read(pid)?;
    let (wall, done) = conns.run(usize::MAX, Some(timed))?;
    let after = procfs::read(pid)?;
    drop(conns);
    let served = running.finish()?;
    let lines = clients * WARM_UP + done;
    if served.clients != clients || served.lines != lines {
        return Err(io::Error::other(format!(
            "{} served {served:?}, not {clients} clients and {lines} lines",
            server.name()
        )));
    }
    let n = done as f64;
    Ok(Sample {
        round_trips: done,
        wall_ns: wall.as_nanos() as f64 / n,
        cpu_ns: (after.cpu_ticks - before.cpu_ticks) as f64 / machine::ticks_per_second() * 1e9 / n,
        switches: ((after.voluntary + after.involuntary) as f64 - (before.voluntary + before.involuntary) as f64) / n,
        involuntary: (after.involuntary as f64 - before.involuntary as f64) / n,
        threads: after.threads,
        hwm_kib: after.hwm_kib,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let chosen: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (clients, rounds, timed) = if !benching {
        (vec![1, 10], 1, SMOKE)
    } else if chosen.is_empty() {
        (CLIENTS.to_vec(), ROUNDS, TIMED)
    } else {
        (chosen, ROUNDS, TIMED)
    };

    let cpus = usable_cpus().to_vec();
    let load_before = machine::load_average();
    let clock_before = machine::CpuClock::read();
    let nofile = raise_open_files(clients.iter().copied().max().unwrap_or(1) as u64 + 64);
    if let Err(e) = pin(0) {
        eprintln!("could not pin the client side to CPU {:?}: {e}", cpus.first());
    }

    let mut results = report::Results::default();
    let mut skipped = Vec::new();
    for &c in &clients {
        if !fits(c) {
            skipped.push(format!("C = {c}: more descriptors than RLIMIT_NOFILE allows"));
            continue;
        }
        for round in 1..=rounds {
            for server in [Server::Epoll, Server::Threads] {
                match measure(server, c, timed) {
                    Ok(sample) => {
                        eprintln!(
                            "C = {c:>4}, round {round}, {:<28} {:>8.2} µs a round trip, server CPU {:>6.2} µs, {:>5.2} switches",
                            server.name(),
                            sample.wall_ns / 1e3,
                            sample.cpu_ns / 1e3,
                            sample.switches
                        );
                        results.add(c, server, round, sample);
                    }
                    Err(e) => {
                        eprintln!("C = {c}, round {round}, {}: {e}", server.name());
                        skipped.push(format!("C = {c}, round {round}, {}: {e}", server.name()));
                    }
                }
            }
        }
    }

    let machine = report::machine(&cpus, &load_before, clock_before, &nofile, timed, benching);
    let table = report::markdown(&machine, &results, &skipped);
    println!("\n{table}");
    if !benching {
        return;
    }
    let out = report::target_dir().join("event-loop-bench");
    match std::fs::create_dir_all(&out).and_then(|()| std::fs::write(out.join("report.md"), &table)) {
        Ok(()) => println!("written: {}", out.join("report.md").display()),
        Err(e) => eprintln!("could not write the report to {}: {e}", out.display()),
    }
    if !skipped.is_empty() {
        std::process::exit(1);
    }
}
