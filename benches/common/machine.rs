//! What both benchmarks read about the machine they run on, for their reports: the CPUs this
//! process may use (`man 2 sched_getaffinity`), the CPU model and kernel (`/proc/cpuinfo`,
//! `/proc/sys/kernel/osrelease`), the load average (`man 5 proc_loadavg`), and where the CPUs'
//! time went (`man 5 proc_stat`, `man 2 getrusage`).

use std::fs;
use std::sync::OnceLock;
use std::time::Instant;

/// The CPUs this process may run on (`sched_getaffinity`), read on the first call, before
/// anything is pinned: a child forked after the pinning inherits a one-CPU mask.
pub fn usable_cpus() -> &'static [usize] {
    static CPUS: OnceLock<Vec<usize>> = OnceLock::new();
    CPUS.get_or_init(|| {
        // SAFETY: cpu_set_t is plain data; zeroed is an empty set, which sched_getaffinity fills.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
        if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
            return Vec::new();
        }
        // SAFETY: CPU_ISSET reads one bit of `set`, filled above; every index is below
        // CPU_SETSIZE.
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux): the unit of `/proc/stat` and
/// `/proc/<pid>/stat`.
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf takes no pointer.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them, or `?`.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The CPU's model name from `/proc/cpuinfo`, and the kernel release.
pub fn cpu_and_kernel() -> (String, String) {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    (model, kernel.trim().to_string())
}

/// Where the CPUs' time has gone so far: every CPU's busy and stolen time (`/proc/stat`), and
/// this process's with its reaped children's (`getrusage`). Two readings, before and after a
/// run, tell how much of the machine others used meanwhile: the load average cannot, since a
/// benchmark's own busy processes raise it.
#[derive(Clone, Copy)]
pub struct CpuClock {
    /// When the clock was read, for the wall time between two readings.
    at: Instant,
    /// All CPUs, seconds: busy (user, nice, system, irq, softirq), stolen by the host, total.
    busy: f64,
    steal: f64,
    total: f64,
    /// This process and its reaped children, seconds of CPU.
    ours: f64,
}

/// What happened to the CPUs between two readings of a [`CpuClock`].
pub struct Share {
    /// Wall time between the readings, minutes.
    pub minutes: f64,
    /// The fraction of all CPUs' time that other processes used.
    pub others: f64,
    /// The fraction the host took (steal).
    pub stolen: f64,
}

impl CpuClock {
    pub fn read() -> CpuClock {
        let ticks = ticks_per_second();
        let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|f| f.parse::<f64>().unwrap_or(0.0) / ticks)
            .collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or(0.0);
        let ours = [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN]
            .into_iter()
            .map(|who| {
                // SAFETY: rusage is plain data, and getrusage fills it.
                let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
                // SAFETY: `usage` is a valid rusage to write.
                unsafe { libc::getrusage(who, &mut usage) };
                let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
                seconds(usage.ru_utime) + seconds(usage.ru_stime)
            })
            .sum();
        CpuClock {
            at: Instant::now(),
            // user, nice, system, irq, softirq
            busy: field(0) + field(1) + field(2) + field(5) + field(6),
            steal: field(7),
            total: fields.iter().sum(),
            ours,
        }
    }

    /// What others used of the CPUs from `before` until this reading.
    pub fn since(&self, before: &CpuClock) -> Share {
        let online = (self.total - before.total).max(f64::EPSILON);
        Share {
            minutes: self.at.duration_since(before.at).as_secs_f64() / 60.0,
            others: ((self.busy - before.busy) - (self.ours - before.ours)).max(0.0) / online,
            stolen: (self.steal - before.steal).max(0.0) / online,
        }
    }
}
