//! What the kernel counts for the server process: its CPU time (`/proc/<pid>/stat`), its
//! context switches summed over its threads (`/proc/<pid>/task/*/status`), its thread count
//! and its peak resident set (`/proc/<pid>/status`). See `man 5 proc_pid_stat` and
//! `man 5 proc_pid_status`.

use std::fs;
use std::io;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// utime + stime of every thread, live or exited, in clock ticks.
    pub cpu_ticks: u64,
    /// Voluntary context switches (the thread blocked), summed over the live threads.
    pub voluntary: u64,
    /// Involuntary ones (the thread was preempted), summed over the live threads.
    pub involuntary: u64,
    /// `Threads:`.
    pub threads: u64,
    /// `VmHWM:`, the peak resident set, in KiB.
    pub hwm_kib: u64,
}

fn field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

/// utime + stime from `/proc/<pid>/stat`: fields 14 and 15, counted after the command name,
/// which is in parentheses and may itself hold spaces and parentheses.
fn cpu_ticks(pid: i32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| io::Error::other("bad stat"))?;
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let number =
        |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or_else(|| io::Error::other("bad stat"));
    Ok(number(11)? + number(12)?)
}

/// Reads the counters of process `pid`.
pub fn read(pid: i32) -> io::Result<Counters> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut counters = Counters {
        cpu_ticks: cpu_ticks(pid)?,
        threads: field(&status, "Threads").unwrap_or(0),
        hwm_kib: field(&status, "VmHWM").unwrap_or(0),
        ..Counters::default()
    };
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread may end between the listing and the read: it is simply not counted.
        let Ok(status) = fs::read_to_string(task?.path().join("status")) else { continue };
        counters.voluntary += field(&status, "voluntary_ctxt_switches").unwrap_or(0);
        counters.involuntary += field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0);
    }
    Ok(counters)
}
