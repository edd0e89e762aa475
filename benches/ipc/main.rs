//! The source guide's "IPC Comparison" table, measured on this machine (issue 10).
//!
//! `cargo bench --features bench --bench ipc` measures, between two processes pinned to
//! different CPUs:
//! - the latency of a 64-byte round trip through each mechanism, with the reference answer's
//!   API where it can do a round trip, and beside it a minimal loop of the raw system calls;
//! - the throughput of 64 MiB in 4 KiB and 1 MiB messages, wherever a mechanism carries them;
//! - the limits: one cache line bouncing between the two CPUs (the latency floor) and a
//!   single-thread `memcpy` (the throughput ceiling).
//!
//! Criterion does the warm-up, the repetitions and the statistics; each sample forks a fresh
//! peer (untimed) and times N round trips (`iter_custom`). The benchmarks run in rounds (five
//! for latency, three for throughput); each ratio is taken within a round and the median over the
//! rounds reported. Afterwards the samples are read back from criterion's files, and a Markdown
//! table (printed, and written with an SVG chart to `target/ipc-bench/`) sets each mechanism
//! beside its limit and the source's word for it.
//!
//! No wait is unbounded: spins and futex sleeps give up after `proc::PATIENCE`, and a watchdog
//! (`proc::watched`, SIGALRM) ends a run whose sample blocks in a system call for a minute,
//! naming the benchmark and the phase, after killing the peers and removing the queues.
//!
//! `IPC_BENCH_ATTEMPT=1` also measures the learner's answers (`katas/`, the `ipc_katas`
//! library), beside the reference; katas still at `todo!()` are skipped and named.

#[path = "../common/machine.rs"]
mod machine;
mod proc;
mod raw;
mod report;

// The reference answers, compiled into the bench whatever the library's features are.
#[path = "../../solutions/mod.rs"]
#[allow(dead_code, unused_imports)]
mod reference;

/// The round trips and transfers through the reference answers' APIs.
mod with_reference {
    use crate::reference as api;
    include!("answers.rs");
}

/// The same, through the learner's attempt (the library: `katas/`, or `solutions/` when built
/// with `--features solutions`).
mod with_attempt {
    use katas as api;
    include!("answers.rs");
}

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};

use report::{Limits, Measured, Row};

/// A round trip benchmark: `iters` round trips, timed.
pub type Latency = fn(u64) -> io::Result<Duration>;
/// A transfer benchmark: `iters` × 64 MiB in messages of the given size, timed.
pub type Throughput = fn(u64, usize) -> io::Result<Duration>;

/// One row of the table.
pub struct Mechanism {
    pub key: &'static str,
    pub name: &'static str,
    /// The source's row and its word for the speed.
    pub source: (&'static str, &'static str),
    pub raw_latency: Option<Latency>,
    /// The reference answer's round trip, and the attempt's.
    pub answer_latency: Option<(Latency, Latency)>,
    /// What the "answer" column measures, or why the raw calls stand in for it.
    pub how: &'static str,
    pub raw_throughput: Option<Throughput>,
    pub answer_throughput: Option<(Throughput, Throughput)>,
    /// The largest message the throughput benchmarks can use (a queue's or socket's limit).
    pub largest: usize,
}

/// How many alternating rounds of the round-trip benchmarks (see main).
const ROUNDS: usize = 5;
/// How many rounds of the throughput benchmarks.
const THROUGHPUT_ROUNDS: usize = 3;

const KIB4: usize = 4 << 10;
const MIB1: usize = 1 << 20;
pub const SIZES: [usize; 2] = [KIB4, MIB1];

fn mechanisms() -> Vec<Mechanism> {
    use with_attempt as a;
    use with_reference as r;
    vec![
        Mechanism {
            key: "shm_spin",
            name: "shared memory, spinning",
            source: ("Shared Memory", "Fastest"),
            raw_latency: Some(raw::shm_spin),
            answer_latency: None,
            how: "raw only: mmap(MAP_SHARED), a Release store and a spinning Acquire load (no answer spins)",
            raw_throughput: None,
            answer_throughput: None,
            largest: 0,
        },
        Mechanism {
            key: "shm_futex",
            name: "shared memory, futex wake-up",
            source: ("Shared Memory", "Fastest"),
            raw_latency: Some(raw::shm_futex),
            answer_latency: Some((r::shm_futex_latency, a::shm_futex_latency)),
            how: "SpscRing (4 × 16-byte items each way; spins up to 30 µs, then sleeps); raw: futex \
                  wait/wake, sleeping every time (the cost of a wake-up); \
                  throughput: raw only, a 4 MiB ring in 64 KiB pieces (SpscRing carries 16-byte items)",
            raw_throughput: Some(raw::shm_stream),
            answer_throughput: None,
            largest: MIB1,
        },
        Mechanism {
            key: "sysv_mq",
            name: "System V message queue",
            source: ("Message Queue", "Fast"),
            raw_latency: Some(raw::sysv_latency),
            answer_latency: Some((r::sysv_latency, a::sysv_latency)),
            how: "SysvQueue send/receive (throughput: receive_into); raw: msgsnd/msgrcv (msgmax 8 KiB: no 1 MiB messages)",
            raw_throughput: Some(raw::sysv_throughput),
            answer_throughput: Some((r::sysv_throughput, a::sysv_throughput)),
            largest: KIB4,
        },
        Mechanism {
            key: "posix_mq",
            name: "POSIX message queue",
            source: ("Message Queue", "Fast"),
            raw_latency: Some(raw::posix_latency),
            answer_latency: Some((r::posix_latency, a::posix_latency)),
            how: "PosixQueue send/receive (throughput: receive_into); raw: mq_send/mq_receive (msgsize_max 8 KiB)",
            raw_throughput: Some(raw::posix_throughput),
            answer_throughput: Some((r::posix_throughput, a::posix_throughput)),
            largest: KIB4,
        },
        Mechanism {
            key: "pipe",
            name: "anonymous pipe",
            source: ("Pipes", "Medium"),
            raw_latency: Some(raw::pipe_latency),
            answer_latency: Some((r::pipe_latency, a::pipe_latency)),
            how: "pipes::ask_child (4-byte length, then the body; its fork timed apart and subtracted); \
                  raw: write/read",
            raw_throughput: Some(raw::pipe_throughput),
            answer_throughput: None,
            largest: MIB1,
        },
        Mechanism {
            key: "fifo",
            name: "FIFO (named pipe)",
            source: ("Pipes", "Medium"),
            raw_latency: Some(raw::fifo_latency),
            answer_latency: None,
            how: "raw only: the fifos answers send one stream one way, no round trip",
            raw_throughput: Some(raw::fifo_throughput),
            answer_throughput: None,
            largest: MIB1,
        },
        Mechanism {
            key: "unix_stream",
            name: "Unix stream socket",
            source: ("Sockets", "Slow"),
            raw_latency: Some(raw::unix_stream_latency),
            answer_latency: Some((r::unix_stream_latency, a::unix_stream_latency)),
            how: "sockets::ask_child (frames; its fork subtracted), socketpair; raw: write/read; \
                  throughput: write_frame/read_frame; raw: the same frames, one write, two reads",
            raw_throughput: Some(raw::unix_stream_throughput),
            answer_throughput: Some((r::unix_stream_throughput, a::unix_stream_throughput)),
            largest: MIB1,
        },
        Mechanism {
            key: "seqpacket",
            name: "Unix seqpacket socket",
            source: ("Sockets", "Slow"),
            raw_latency: Some(raw::seqpacket_latency),
            answer_latency: Some((r::seqpacket_latency, a::seqpacket_latency)),
            how: "MessageSocket send/recv; raw: send/recv (1 MiB exceeds the socket buffer)",
            raw_throughput: Some(raw::seqpacket_throughput),
            answer_throughput: Some((r::seqpacket_throughput, a::seqpacket_throughput)),
            largest: KIB4,
        },
        Mechanism {
            key: "tcp",
            name: "TCP loopback",
            source: ("Sockets", "Slow"),
            raw_latency: Some(raw::tcp_latency),
            answer_latency: None,
            how: "raw only (TCP_NODELAY): the tcp answer opens one connection per exchange",
            raw_throughput: Some(raw::tcp_throughput),
            answer_throughput: None,
            largest: MIB1,
        },
        Mechanism {
            key: "signal",
            name: "real-time signal",
            source: ("Signals", "Fast"),
            raw_latency: Some(raw::signal_latency),
            answer_latency: Some((r::signal_latency, a::signal_latency)),
            how: "SignalCounter + queue_signal, 4-byte value, receiver spins on the count; raw: \
                  sigqueue + a counting handler",
            raw_throughput: None,
            answer_throughput: None,
            largest: 0,
        },
    ]
}

/// Which variant of a benchmark.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    Raw,
    Reference,
    Attempt,
}

impl Variant {
    pub fn tag(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::Reference => "reference",
            Variant::Attempt => "attempt",
        }
    }
}

/// Runs one sample of a benchmark under the watchdog ([`proc::watched`]), or panics with its
/// error: criterion has no other way to fail.
fn run(id: &'static str, body: impl FnOnce() -> io::Result<Duration>) -> Duration {
    proc::watched(id, body).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// A benchmark's full name (`group/id`), kept for the whole run: the watchdog's signal handler
/// prints it, and may only read memory that no one frees.
fn name(group: &str, id: &str) -> &'static str {
    Box::leak(format!("{group}/{id}").into_boxed_str())
}

/// The variants of a benchmark that run: the raw loop, the reference answer, and the learner's
/// attempt when it could be measured.
fn variants<F>(raw: Option<F>, answer: Option<(F, F)>, attempt_ok: bool) -> Vec<(Variant, F)> {
    let mut variants = Vec::new();
    if let Some(f) = raw {
        variants.push((Variant::Raw, f));
    }
    if let Some((reference, attempt)) = answer {
        variants.push((Variant::Reference, reference));
        if attempt_ok {
            variants.push((Variant::Attempt, attempt));
        }
    }
    variants
}

/// Adds the benchmark `id` to a group: each sample is `body(iters)` under the watchdog; its
/// full name goes into `ran`, for the report to read its samples back.
fn add(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    id: &str,
    ran: &RefCell<Vec<&'static str>>,
    body: impl Fn(u64) -> io::Result<Duration>,
) {
    let full = name(group_name, id);
    group.bench_function(id, |b| {
        let mut ran = ran.borrow_mut();
        if !ran.contains(&full) {
            ran.push(full);
        }
        drop(ran);
        b.iter_custom(|iters| run(full, || body(iters)))
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let testing = args.iter().any(|a| a == "--test" || a == "--list");
    let attempt = std::env::var_os("IPC_BENCH_ATTEMPT").is_some_and(|v| v != "0");
    let cpus = proc::usable_cpus().to_vec();
    proc::clean_up_on_interrupt();
    if let Err(e) = proc::pin(proc::Side::Main) {
        eprintln!("could not pin the measuring process to CPU {:?}: {e}", cpus.first());
    }
    let load_before = machine::load_average();
    let clock_before = machine::CpuClock::read();
    let target = report::target_dir();
    let criterion_dir = target.join("ipc-bench").join("criterion");

    let mut criterion =
        Criterion::default().output_directory(&criterion_dir).nresamples(2000).without_plots().configure_from_args();
    let mechanisms = mechanisms();

    // The learner's attempt: probed first, in a throw-away process, so that a kata still at
    // todo!() (or one that hangs) is named and skipped instead of stopping the run.
    let mut skipped = Vec::new();
    let mut usable = |key: &str, what: &str, probe: &dyn Fn() -> io::Result<Duration>| -> bool {
        if !attempt || testing {
            return false;
        }
        match report::probe(probe) {
            Ok(()) => true,
            Err(why) => {
                skipped.push(format!("{key} {what}: {why}"));
                false
            }
        }
    };
    let mut attempt_latency = Vec::new();
    let mut attempt_throughput = Vec::new();
    for m in &mechanisms {
        if let Some((_, a)) = m.answer_latency {
            attempt_latency.push(usable(m.key, "round trip", &|| a(2)));
        } else {
            attempt_latency.push(false);
        }
        if let Some((_, a)) = m.answer_throughput {
            attempt_throughput.push(usable(m.key, "throughput", &|| a(1, KIB4)));
        } else {
            attempt_throughput.push(false);
        }
    }

    let ran = RefCell::new(Vec::new());
    {
        let mut group = criterion.benchmark_group("latency");
        // Many short samples, in rounds that alternate the raw loop and the answer: on a shared
        // machine the load drifts over seconds, and the report takes each ratio within a round.
        group.sample_size(20).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(250));
        for round in 1..=ROUNDS {
            add(&mut group, "latency", &format!("cache_line.raw.{round}"), &ran, raw::cache_line);
            for (m, attempt_ok) in mechanisms.iter().zip(&attempt_latency) {
                for (variant, f) in variants(m.raw_latency, m.answer_latency, *attempt_ok) {
                    add(&mut group, "latency", &format!("{}.{}.{round}", m.key, variant.tag()), &ran, f);
                }
            }
        }
        group.finish();
    }

    for size in SIZES {
        let group_name = report::throughput_group(size);
        let mut group = criterion.benchmark_group(&group_name);
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_secs(2));
        for round in 1..=THROUGHPUT_ROUNDS {
            if size == MIB1 {
                add(&mut group, &group_name, &format!("memcpy.raw.{round}"), &ran, raw::memcpy);
            }
            for (m, attempt_ok) in mechanisms.iter().zip(&attempt_throughput) {
                if size > m.largest {
                    continue;
                }
                for (variant, f) in variants(m.raw_throughput, m.answer_throughput, *attempt_ok) {
                    let id = format!("{}.{}.{round}", m.key, variant.tag());
                    add(&mut group, &group_name, &id, &ran, move |iters| f(iters, size));
                }
            }
        }
        group.finish();
    }
    criterion.final_summary();
    if testing {
        return;
    }

    let ran = ran.into_inner();
    let measured = Measured::read(&criterion_dir, &ran);
    let limits = Limits::from(&measured);
    let rows: Vec<Row> = mechanisms.iter().map(|m| Row::new(m, &measured)).collect();
    let machine = report::machine(&cpus, &load_before, clock_before);
    let out = target.join("ipc-bench");
    match report::write(&out, &machine, &limits, &rows, &skipped, attempt) {
        Ok(table) => {
            println!("\n{table}");
            println!("written: {}/report.md, {}/chart.svg", out.display(), out.display());
        }
        Err(e) => eprintln!("could not write the report to {}: {e}", out.display()),
    }
}
