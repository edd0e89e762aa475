//! The report: medians over the rounds, the ratios thread ÷ epoll paired by round, the machine,
//! and the Markdown table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::driver::LINE;
use crate::machine::{CpuClock, Share, cpu_and_kernel, load_average, ticks_per_second};
use crate::servers::Server;

/// One run of one server with C clients, per timed round trip.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The timed round trips, all clients together.
    pub round_trips: usize,
    /// Wall time from the first send to the last answer, ÷ the round trips, ns.
    pub wall_ns: f64,
    /// The server's utime + stime ÷ the round trips, ns.
    pub cpu_ns: f64,
    /// The server's context switches (voluntary + involuntary, all threads) ÷ the round trips.
    pub switches: f64,
    /// Of which involuntary (preempted).
    pub involuntary: f64,
    /// The server's threads while its clients were connected.
    pub threads: u64,
    /// The server's peak resident set, KiB.
    pub hwm_kib: u64,
}

/// One server's samples with one C, by round.
type ByRound = BTreeMap<usize, Sample>;

/// Everything measured, by C.
#[derive(Default)]
pub struct Results {
    /// C → (the epoll server's samples, the threads'), by round.
    by_clients: BTreeMap<usize, (ByRound, ByRound)>,
}

impl Results {
    pub fn add(&mut self, clients: usize, server: Server, round: usize, sample: Sample) {
        let entry = self.by_clients.entry(clients).or_default();
        match server {
            Server::Epoll => entry.0.insert(round, sample),
            Server::Threads => entry.1.insert(round, sample),
        };
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

/// The median and the median absolute deviation.
fn spread(samples: &ByRound, get: fn(&Sample) -> f64) -> Option<(f64, f64)> {
    let mut values: Vec<f64> = samples.values().map(get).collect();
    let m = median(&mut values)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    Some((m, median(&mut deviations)?))
}

/// thread ÷ epoll within each round that measured both, then the median of those ratios.
fn paired(epoll: &ByRound, threads: &ByRound, get: fn(&Sample) -> f64) -> Option<f64> {
    let mut ratios: Vec<f64> = threads
        .iter()
        .filter_map(|(round, t)| {
            let e = get(epoll.get(round)?);
            (e > 0.0).then(|| get(t) / e)
        })
        .collect();
    median(&mut ratios)
}

/// The target directory: `$CARGO_TARGET_DIR`, or `target/` in the package.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The lines that describe the machine and the run.
pub struct Machine {
    lines: Vec<String>,
}

pub fn machine(
    cpus: &[usize],
    load_before: &str,
    before: CpuClock,
    nofile: &str,
    timed: Duration,
    benching: bool,
) -> Machine {
    let (model, kernel) = cpu_and_kernel();
    let Share { minutes, others, stolen } = CpuClock::read().since(&before);
    let pinned = match cpus {
        [client, server, ..] => {
            format!("clients pinned to CPU {client}, each server (all its threads) to CPU {server}")
        }
        _ => "one CPU: clients and server share it".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let extra = if args.is_empty() { String::new() } else { format!(" -- {}", args.join(" ")) };
    let command = if benching {
        format!("`cargo bench --features bench --bench event_loop{extra}`")
    } else {
        "`cargo test --features bench --bench event_loop` (the smoke test: one short round, nothing written)".into()
    };
    Machine {
        lines: vec![
            format!("- machine: {model}, `nproc` {}, `uname -r` {kernel}; {pinned}", cpus.len()),
            format!(
                "- load average (1/5/15 min) {} before, {} after; during the run ({minutes:.1} min) other \
                 processes and the host took {:.0}% of the CPUs' time",
                load_before,
                load_average(),
                (others + stolen) * 100.0
            ),
            format!(
                "- each server timed for {:.1} s per round and C, after {} untimed round trips per client",
                timed.as_secs_f64(),
                crate::WARM_UP
            ),
            format!("- {nofile}"),
            format!("- command: {command}"),
        ],
    }
}

fn cell(stat: Option<(f64, f64)>, scale: f64, digits: usize) -> String {
    match stat {
        Some((m, mad)) => format!("{:.digits$} ± {:.digits$}", m / scale, mad / scale),
        None => "—".into(),
    }
}

fn plain(stat: Option<(f64, f64)>, scale: f64, digits: usize) -> String {
    stat.map_or("—".into(), |(m, _)| format!("{:.digits$}", m / scale))
}

fn times(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("**{r:.2}×**"))
}

pub fn markdown(machine: &Machine, results: &Results, skipped: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### One epoll loop against a thread per client\n");
    for line in &machine.lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\nC clients over a Unix stream socket, each sending a {LINE}-byte line and waiting for its \
         answer (the line reversed), driven by one epoll thread in the measuring process. Medians over \
         the rounds (± median absolute deviation); ratios thread ÷ epoll taken within each round, then \
         the median.\n"
    );
    let _ = writeln!(
        out,
        "| C | server | rounds × round trips (median) | wall µs per round trip | server CPU µs per round trip | \
         server CPU ÷ wall | context switches per round trip (involuntary) | threads | peak RSS (VmHWM) MiB |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let wall = |s: &Sample| s.wall_ns;
    let cpu = |s: &Sample| s.cpu_ns;
    let busy = |s: &Sample| s.cpu_ns / s.wall_ns;
    let switches = |s: &Sample| s.switches;
    let involuntary = |s: &Sample| s.involuntary;
    let threads = |s: &Sample| s.threads as f64;
    let hwm = |s: &Sample| s.hwm_kib as f64;
    let trips = |s: &Sample| s.round_trips as f64;
    for (clients, (epoll, thread)) in &results.by_clients {
        for (server, samples) in [(Server::Epoll, epoll), (Server::Threads, thread)] {
            let _ = writeln!(
                out,
                "| {clients} | {} | {} × {} | {} | {} | {} | {} ({}) | {} | {} |",
                server.name(),
                samples.len(),
                plain(spread(samples, trips), 1.0, 0),
                cell(spread(samples, wall), 1e3, 2),
                cell(spread(samples, cpu), 1e3, 2),
                plain(spread(samples, busy), 0.01, 0) + "%",
                plain(spread(samples, switches), 1.0, 2),
                plain(spread(samples, involuntary), 1.0, 2),
                plain(spread(samples, threads), 1.0, 0),
                plain(spread(samples, hwm), 1024.0, 1),
            );
        }
        let _ = writeln!(
            out,
            "| {clients} | *thread ÷ epoll* | | {} | {} | | {} | {} | {} |",
            times(paired(epoll, thread, wall)),
            times(paired(epoll, thread, cpu)),
            times(paired(epoll, thread, switches)),
            times(paired(epoll, thread, threads)),
            times(paired(epoll, thread, hwm)),
        );
    }
    let _ = writeln!(
        out,
        "\n- **wall µs per round trip**: the timed phase's wall time ÷ all its round trips (C of them in \
         flight at once), the inverse of the throughput; a client waits about C times that for each answer.\n\
         - **server CPU**: utime + stime of the server process (`/proc/<pid>/stat`, clock ticks of \
         1/{} s) over the timed phase; **÷ wall** near 100% means the server's CPU was the bottleneck.\n\
         - **context switches**: voluntary + involuntary, summed over `/proc/<pid>/task/*/status`.\n\
         - **threads**, **peak RSS**: `/proc/<pid>/status` at the end of the timed phase, clients still connected.",
        ticks_per_second()
    );
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nNot measured:\n");
        for s in skipped {
            let _ = writeln!(out, "- {s}");
        }
    }
    out
}
