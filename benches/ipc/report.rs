//! Reading criterion's samples back, and the report: the Markdown tables, the SVG chart, the
//! machine line, and the probe that tells whether a learner's answer can be measured.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe, setpgid};

use crate::machine::{CpuClock, Share, cpu_and_kernel, load_average};
use crate::raw::TOTAL;
use crate::{Mechanism, SIZES, Variant};

/// A median and its spread (the median absolute deviation), over criterion's samples.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub median: f64,
    pub mad: f64,
}

impl Stat {
    fn of(mut values: Vec<f64>) -> Option<Stat> {
        let median = median(&mut values)?;
        let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        let mad = self::median(&mut deviations)?;
        Some(Stat { median, mad })
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

pub fn throughput_group(size: usize) -> String {
    if size >= 1 << 20 { format!("throughput_{}MiB", size >> 20) } else { format!("throughput_{}KiB", size >> 10) }
}

/// What this run measured: the per-sample values of each benchmark, by criterion id
/// (`group/function`): nanoseconds per iteration for latency, GiB/s for throughput.
pub struct Measured(HashMap<String, Vec<f64>>);

impl Measured {
    /// Reads `<dir>/<group>/<function>/new/sample.json` for every benchmark that ran.
    pub fn read(dir: &Path, ran: &[&str]) -> Measured {
        let mut map = HashMap::new();
        for id in ran {
            let path = dir.join(id).join("new").join("sample.json");
            let Ok(text) = fs::read_to_string(&path) else { continue };
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            let numbers = |key: &str| -> Vec<f64> {
                json[key].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default()
            };
            let per_iter: Vec<f64> = numbers("iters").iter().zip(numbers("times")).map(|(i, t)| t / i).collect();
            let values = if id.starts_with("throughput") {
                per_iter.iter().map(|ns| TOTAL as f64 / ns * 1e9 / (1u64 << 30) as f64).collect()
            } else {
                per_iter
            };
            map.insert(id.to_string(), values);
        }
        Measured(map)
    }

    /// The median and spread of one benchmark, its rounds' samples pooled
    /// (`group/key.variant.<round>`).
    fn get(&self, group: &str, key: &str, variant: Variant) -> Option<Stat> {
        let prefix = format!("{group}/{key}.{}.", variant.tag());
        let pooled: Vec<f64> = self
            .0
            .iter()
            .filter(|(id, _)| id.strip_prefix(&prefix).is_some_and(|round| round.parse::<usize>().is_ok()))
            .flat_map(|(_, values)| values.iter().copied())
            .collect();
        Stat::of(pooled)
    }

    /// The samples of one benchmark, by round.
    fn rounds(&self, group: &str, key: &str, variant: Variant) -> HashMap<usize, Vec<f64>> {
        let prefix = format!("{group}/{key}.{}.", variant.tag());
        self.0
            .iter()
            .filter_map(|(id, values)| {
                let round = id.strip_prefix(&prefix)?.parse::<usize>().ok()?;
                Some((round, values.clone()))
            })
            .collect()
    }

    /// `a ÷ b`, paired by round: the ratio of the two medians in each round that measured both,
    /// then the median of those ratios. The two sides of a round ran seconds apart, so a load
    /// that drifts over the run (another VM, a build) weighs on both sides of each ratio.
    fn paired(&self, group: &str, a: (&str, Variant), b: (&str, Variant)) -> Option<f64> {
        let a_rounds = self.rounds(group, a.0, a.1);
        let b_rounds = self.rounds(group, b.0, b.1);
        let mut ratios: Vec<f64> = a_rounds
            .into_iter()
            .filter_map(|(round, mut a)| {
                let mut b = b_rounds.get(&round)?.clone();
                Some(median(&mut a)? / median(&mut b)?)
            })
            .collect();
        median(&mut ratios)
    }
}

/// The two limits.
pub struct Limits {
    /// The cache-line round trip, ns.
    pub floor: Option<Stat>,
    /// memcpy, GiB/s.
    pub ceiling: Option<Stat>,
}

impl Limits {
    pub fn from(m: &Measured) -> Limits {
        Limits {
            floor: m.get("latency", "cache_line", Variant::Raw),
            ceiling: m.get(&throughput_group(1 << 20), "memcpy", Variant::Raw),
        }
    }
}

/// One mechanism's measurements.
pub struct Row {
    pub name: &'static str,
    pub source: (&'static str, &'static str),
    pub how: &'static str,
    /// Raw, reference, attempt round trips (ns).
    pub latency: [Option<Stat>; 3],
    /// Per size: raw, reference, attempt (GiB/s).
    pub throughput: [[Option<Stat>; 3]; 2],
    /// The raw round trip ÷ the cache line's, then the reference's and the attempt's ÷ the raw
    /// one, each paired by round ([`Measured::paired`]).
    pub latency_ratio: [Option<f64>; 3],
    /// Per size: the reference's and the attempt's time per 64 MiB ÷ the raw loop's (raw GiB/s
    /// ÷ answer GiB/s), paired by round; the first is unused.
    pub throughput_ratio: [[Option<f64>; 3]; 2],
    pub largest: usize,
}

const VARIANTS: [Variant; 3] = [Variant::Raw, Variant::Reference, Variant::Attempt];

impl Row {
    pub fn new(m: &Mechanism, measured: &Measured) -> Row {
        Row {
            name: m.name,
            source: m.source,
            how: m.how,
            latency: VARIANTS.map(|v| measured.get("latency", m.key, v)),
            throughput: SIZES.map(|size| VARIANTS.map(|v| measured.get(&throughput_group(size), m.key, v))),
            latency_ratio: VARIANTS.map(|v| match v {
                Variant::Raw => measured.paired("latency", (m.key, v), ("cache_line", Variant::Raw)),
                _ => measured.paired("latency", (m.key, v), (m.key, Variant::Raw)),
            }),
            throughput_ratio: SIZES.map(|size| {
                VARIANTS.map(|v| match v {
                    Variant::Raw => None,
                    _ => measured.paired(&throughput_group(size), (m.key, Variant::Raw), (m.key, v)),
                })
            }),
            largest: m.largest,
        }
    }

    /// The mechanism's own round trip: the raw loop's.
    fn mechanism_latency(&self) -> Option<f64> {
        self.latency[0].or(self.latency[1]).map(|s| s.median)
    }

    fn best_throughput(&self) -> Option<f64> {
        self.throughput.iter().flatten().flatten().map(|s| s.median).reduce(f64::max)
    }
}

fn us(stat: Option<Stat>) -> String {
    match stat {
        Some(s) => format!("{:.2} ± {:.2}", s.median / 1e3, s.mad / 1e3),
        None => "—".into(),
    }
}

fn gib(stat: Option<Stat>) -> String {
    match stat {
        Some(s) => format!("{:.2} ± {:.2}", s.median, s.mad),
        None => "—".into(),
    }
}

/// `a ÷ b` of two pooled medians (for the limits, measured once).
fn ratio(a: Option<Stat>, b: Option<Stat>) -> Option<f64> {
    Some(a?.median / b?.median)
}

fn times(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}×"))
}

/// The Markdown report: the machine, the latency table (ranked), the throughput table, the
/// targets and what the columns mean.
pub fn markdown(machine: &Machine, limits: &Limits, rows: &[Row], skipped: &[String], attempt: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### IPC comparison, measured\n\n{}\n", machine.line);
    if machine.busy {
        let _ = writeln!(
            out,
            "**The machine was busy** (other processes, or the host, took more than a tenth of the \
             CPUs' time during the run): the spinning mechanisms and the cache line then measure the \
             scheduler (a peer preempted for a time slice), not the mechanism; run again on a quiet \
             machine.\n"
        );
    }
    let mut order: Vec<&Row> = rows.iter().filter(|r| r.mechanism_latency().is_some()).collect();
    order.sort_by(|a, b| {
        a.mechanism_latency().unwrap_or(f64::MAX).total_cmp(&b.mechanism_latency().unwrap_or(f64::MAX))
    });

    let _ = writeln!(out, "Round trip of 64 bytes between two processes (µs, median ± median absolute deviation):\n");
    let attempt_head = if attempt { " your answer | yours ÷ raw |" } else { "" };
    let attempt_rule = if attempt { "---:|---:|" } else { "" };
    let _ = writeln!(
        out,
        "| rank | mechanism | the source says | raw loop | ÷ floor | reference answer | answer ÷ raw |{attempt_head} measured through |"
    );
    let _ = writeln!(out, "|---:|---|---|---:|---:|---:|---:|{attempt_rule}---|");
    let _ = writeln!(
        out,
        "| — | *one cache line, there and back (the floor)* | | {} | 1.00× | | | {} |",
        us(limits.floor),
        if attempt { " | |" } else { "" }
    );
    for (rank, row) in order.iter().enumerate() {
        let [raw, reference, yours] = row.latency;
        let attempt_cells =
            if attempt { format!(" {} | {} |", us(yours), times(row.latency_ratio[2])) } else { String::new() };
        let _ = writeln!(
            out,
            "| {} | {} | {} ({}) | {} | {} | {} | {} |{attempt_cells} {} |",
            rank + 1,
            row.name,
            row.source.1,
            row.source.0,
            us(raw),
            times(row.latency_ratio[0]),
            us(reference),
            times(row.latency_ratio[1]),
            row.how
        );
    }

    let _ =
        writeln!(out, "\nThroughput of 64 MiB between two processes (GiB/s, median ± median absolute deviation):\n");
    let _ = writeln!(out, "| mechanism | 4 KiB raw | 4 KiB answer | 1 MiB raw | 1 MiB answer | best ÷ memcpy |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(out, "| *memcpy, one thread (the ceiling)* | | | {} | | 1.00× |", gib(limits.ceiling));
    let mut by_throughput: Vec<&Row> = rows.iter().filter(|r| r.best_throughput().is_some()).collect();
    by_throughput.sort_by(|a, b| b.best_throughput().unwrap_or(0.0).total_cmp(&a.best_throughput().unwrap_or(0.0)));
    for row in by_throughput {
        let cell = |size: usize, variant: usize| {
            if SIZES[size] > row.largest { "n/a (too big)".to_string() } else { gib(row.throughput[size][variant]) }
        };
        let answer = |size: usize| {
            let yours = row.throughput[size][2];
            let mut text = cell(size, 1);
            if attempt && yours.is_some() {
                text += &format!(" (yours {})", gib(yours));
            }
            text
        };
        let best = row.best_throughput().zip(limits.ceiling).map(|(b, c)| b / c.median);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            cell(0, 0),
            answer(0),
            cell(1, 0),
            answer(1),
            times(best)
        );
    }

    let _ = writeln!(out, "\nTargets (issue 10):\n");
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    if let Some(spin) = find("shared memory, spinning") {
        let r = spin.latency_ratio[0];
        let _ = writeln!(
            out,
            "- spinning shared-memory round trip ÷ cache-line round trip: {} (target ≤ 3×): {}",
            times(r),
            verdict(r.map(|r| r <= 3.0))
        );
    }
    if let Some(shm) = find("shared memory, futex wake-up") {
        let r = ratio(shm.throughput[1][0], limits.ceiling);
        let _ = writeln!(
            out,
            "- shared-memory throughput, 1 MiB messages ÷ memcpy: {} (target ≥ 0.5×): {}",
            times(r),
            verdict(r.map(|r| r >= 0.5))
        );
    }
    for row in rows {
        let lat = row.latency_ratio[1];
        let tput: Vec<(usize, Option<f64>)> = (0..2).map(|s| (SIZES[s], row.throughput_ratio[s][1])).collect();
        if lat.is_none() && tput.iter().all(|(_, r)| r.is_none()) {
            continue;
        }
        // The target is for kernel-mediated mechanisms; in shared memory the data never enters
        // the kernel, and the raw loop does not do the ring's work (its "measured through").
        let targeted = !row.name.starts_with("shared memory");
        let judged = |r: f64| {
            if targeted { format!("{} {}", times(Some(r)), verdict(Some(r <= 1.25))) } else { times(Some(r)) }
        };
        let mut parts = Vec::new();
        if let Some(r) = lat {
            parts.push(format!("round trip {}", judged(r)));
        }
        for (size, r) in tput {
            if let Some(r) = r {
                let label = if size >= 1 << 20 { "1 MiB" } else { "4 KiB" };
                parts.push(format!("{label} throughput {}", judged(r)));
            }
        }
        if !targeted {
            let _ = writeln!(
                out,
                "- {}, reference answer ÷ raw loop: {} (no target: not kernel-mediated; the ring \
                 moves 64 bytes as four 16-byte items and spins up to 30 µs before it sleeps, the raw \
                 loop sleeps every time, so this is what spinning first saves)",
                row.name,
                parts.join("; ")
            );
            continue;
        }
        let _ = writeln!(out, "- {}, reference answer ÷ raw loop (target ≤ 1.25×): {}", row.name, parts.join("; "));
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nYour answers not measured:\n");
        for s in skipped {
            let _ = writeln!(out, "- {s}");
        }
    }
    let _ = writeln!(
        out,
        "\n÷ floor: how many cache-line round trips one message round trip costs. ÷ memcpy: the \
         share of one core's copy bandwidth a transfer reaches. answer ÷ raw: what the reference \
         answer's API adds to the bare system calls (for throughput: raw GiB/s ÷ answer GiB/s). \
         Every ratio is paired: taken in each round between two benchmarks that ran one after \
         the other, then the median over the rounds. The source's word is in parentheses with the row of \
         its table it comes from."
    );
    out
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    }
}

/// Writes report.md and chart.svg into `dir`; returns the Markdown.
pub fn write(
    dir: &Path,
    machine: &Machine,
    limits: &Limits,
    rows: &[Row],
    skipped: &[String],
    attempt: bool,
) -> io::Result<String> {
    fs::create_dir_all(dir)?;
    let table = markdown(machine, limits, rows, skipped, attempt);
    fs::write(dir.join("report.md"), &table)?;
    fs::write(dir.join("chart.svg"), svg(&machine.line, limits, rows))?;
    Ok(table)
}

/// The colour of the source's word.
fn colour(word: &str) -> (&'static str, &'static str) {
    match word {
        "Fastest" => ("#1b7837", "#a6dba0"),
        "Fast" => ("#2166ac", "#92c5de"),
        "Medium" => ("#b35806", "#fdb863"),
        _ => ("#b2182b", "#f4a582"),
    }
}

/// One row of a bar chart: the row's name right-aligned before `label_w`, then up to two bars of
/// height `bar_h`, one under the other, each given as its width and the value written after it.
fn bar_row(s: &mut String, (label_w, bar_h): (f64, f64), y: f64, name: &str, bars: [(Option<(f64, String)>, &str); 2]) {
    let _ =
        writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, label_w - 8.0, y + bar_h + 4.0, escape(name));
    for (k, (bar, fill)) in bars.into_iter().enumerate() {
        if let Some((width, value)) = bar {
            let yy = y + k as f64 * bar_h;
            let _ = writeln!(
                s,
                r##"<rect x="{label_w}" y="{yy}" width="{:.1}" height="{}" fill="{fill}"/><text x="{:.1}" y="{}" fill="#333">{}</text>"##,
                width.max(1.0),
                bar_h - 2.0,
                label_w + width.max(0.0) + 4.0,
                yy + bar_h - 3.0,
                escape(&value)
            );
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Two panels of horizontal bars: round trips on a log scale, with the cache-line floor, and
/// the best throughput on a linear scale, with memcpy; coloured by the source's word.
pub fn svg(machine: &str, limits: &Limits, rows: &[Row]) -> String {
    let (label_w, plot_w, bar_h, gap) = (230.0, 520.0, 14.0, 10.0);
    let mut lat: Vec<&Row> = rows.iter().filter(|r| r.mechanism_latency().is_some()).collect();
    lat.sort_by(|a, b| a.mechanism_latency().unwrap_or(0.0).total_cmp(&b.mechanism_latency().unwrap_or(0.0)));
    let mut tput: Vec<&Row> = rows.iter().filter(|r| r.best_throughput().is_some()).collect();
    tput.sort_by(|a, b| b.best_throughput().unwrap_or(0.0).total_cmp(&a.best_throughput().unwrap_or(0.0)));
    let row_h = 2.0 * bar_h + gap;
    let top1 = 120.0;
    let top2 = top1 + lat.len() as f64 * row_h + 80.0;
    let height = top2 + tput.len() as f64 * row_h + 70.0;
    let width = label_w + plot_w + 120.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">IPC between two processes, measured</text>"#
    );
    // The machine line, in two lines: what the machine is, and how busy it was.
    let (what, load) = machine.split_once(", load average").unwrap_or((machine, ""));
    let _ = writeln!(s, r##"<text x="10" y="40" fill="#555">{}</text>"##, escape(what));
    if !load.is_empty() {
        let _ = writeln!(s, r##"<text x="10" y="56" fill="#555">load average{}</text>"##, escape(load));
    }
    // The legend: the source's words.
    for (i, word) in ["Fastest", "Fast", "Medium", "Slow"].iter().enumerate() {
        let x = 10.0 + i as f64 * 130.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="68" width="12" height="12" fill="{}"/><text x="{}" y="78">source: {word}</text>"#,
            colour(word).0,
            x + 16.0
        );
    }

    // Latency, log scale.
    let floor = limits.floor.map(|f| f.median).unwrap_or(50.0);
    let max = lat.iter().flat_map(|r| r.latency.iter().flatten().map(|s| s.median)).fold(floor, f64::max);
    let (lo, hi) = ((floor / 2.0).log10(), (max * 1.5).log10());
    let x_of = |ns: f64| label_w + (ns.log10() - lo) / (hi - lo) * plot_w;
    let _ = writeln!(
        s,
        r#"<text x="10" y="{}" font-weight="bold">Round trip of 64 bytes (log scale; light = raw system calls, dark = reference answer)</text>"#,
        top1 - 8.0
    );
    for (i, row) in lat.iter().enumerate() {
        let (dark, light) = colour(row.source.1);
        let bar = |stat: Option<Stat>| stat.map(|st| (x_of(st.median) - label_w, format!("{:.2} µs", st.median / 1e3)));
        bar_row(
            &mut s,
            (label_w, bar_h),
            top1 + i as f64 * row_h,
            row.name,
            [(bar(row.latency[0]), light), (bar(row.latency[1]), dark)],
        );
    }
    let bottom1 = top1 + lat.len() as f64 * row_h;
    let fx = x_of(floor);
    let _ = writeln!(
        s,
        r##"<line x1="{fx:.1}" y1="{top1}" x2="{fx:.1}" y2="{bottom1}" stroke="#000" stroke-dasharray="4 3"/><text x="{fx:.1}" y="{}" text-anchor="middle">cache line {:.2} µs (floor)</text>"##,
        bottom1 + 16.0,
        floor / 1e3
    );
    // Decade ticks.
    let mut tick = 10f64.powf(lo.ceil());
    while tick.log10() <= hi {
        let x = x_of(tick);
        let label = if tick >= 1e3 { format!("{} µs", tick / 1e3) } else { format!("{tick} ns") };
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top1}" x2="{x:.1}" y2="{bottom1}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle" fill="#777">{label}</text>"##,
            bottom1 + 32.0
        );
        tick *= 10.0;
    }

    // Throughput, linear scale: 4 KiB (light) and 1 MiB (dark), the better of raw and answer.
    let ceiling = limits.ceiling.map(|c| c.median).unwrap_or(1.0);
    let tmax = tput.iter().filter_map(|r| r.best_throughput()).fold(ceiling, f64::max) * 1.1;
    let _ = writeln!(
        s,
        r#"<text x="10" y="{}" font-weight="bold">Throughput of 64 MiB, GiB/s (light = 4 KiB messages, dark = 1 MiB; the better of raw and answer)</text>"#,
        top2 - 8.0
    );
    for (i, row) in tput.iter().enumerate() {
        let (dark, light) = colour(row.source.1);
        let bar = |size: usize| {
            let best = row.throughput[size].iter().flatten().map(|s| s.median).reduce(f64::max);
            best.map(|v| (v / tmax * plot_w, format!("{v:.2}")))
        };
        bar_row(&mut s, (label_w, bar_h), top2 + i as f64 * row_h, row.name, [(bar(0), light), (bar(1), dark)]);
    }
    let bottom2 = top2 + tput.len() as f64 * row_h;
    let cx = label_w + ceiling / tmax * plot_w;
    let _ = writeln!(
        s,
        r##"<line x1="{cx:.1}" y1="{top2}" x2="{cx:.1}" y2="{bottom2}" stroke="#000" stroke-dasharray="4 3"/><text x="{cx:.1}" y="{}" text-anchor="middle">memcpy {ceiling:.2} GiB/s (ceiling)</text>"##,
        bottom2 + 16.0
    );
    let _ = writeln!(s, "</svg>");
    s
}

/// The target directory: `$CARGO_TARGET_DIR`, or `target/` in the package.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The machine the run measured.
pub struct Machine {
    /// CPU model, CPUs, kernel, load average before and after, what others took.
    pub line: String,
    /// Other processes, or the host, took more than a tenth of the CPUs' time during the run.
    pub busy: bool,
}

/// Describes the machine: CPU model, CPUs, kernel, load average before and after, and the share
/// of the CPUs' time that other processes and the host took between `before` and now.
pub fn machine(cpus: &[usize], load_before: &str, before: CpuClock) -> Machine {
    let (model, kernel) = cpu_and_kernel();
    let pinned = match cpus {
        [main, peer, ..] => format!("the two processes pinned to CPUs {main} and {peer}"),
        _ => "one CPU: both processes share it".to_string(),
    };
    let load_after = load_average();
    let Share { minutes, others, stolen } = CpuClock::read().since(&before);
    Machine {
        line: format!(
            "{model}, {} usable CPUs ({pinned}), Linux {}, load average (1/5/15 min) {load_before} before the \
             run, {load_after} after; during the run ({minutes:.1} min) other processes used {:.0}% of the \
             CPUs' time and the host took {:.0}% (steal)",
            cpus.len(),
            kernel,
            others * 100.0,
            stolen * 100.0
        ),
        busy: others > 0.1 || stolen > 0.1,
    }
}

/// Runs `body` in a throw-away process (its own process group) with a 20 s deadline: `Ok` if
/// it returned `Ok`, otherwise why not (a `todo!()`, another panic, an error, a hang).
pub fn probe(body: &dyn Fn() -> io::Result<Duration>) -> Result<(), String> {
    let (rx, tx) = pipe().map_err(|e| e.to_string())?;
    // SAFETY: single-threaded at this point (before criterion runs anything); the child only
    // runs `body` and exits.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            drop(rx);
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let mut tx = File::from(tx);
            std::panic::set_hook(Box::new(|_| {}));
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(Ok(_)) => 0,
                Ok(Err(e)) => {
                    let _ = io::Write::write_all(&mut tx, format!("returned an error: {e}").as_bytes());
                    1
                }
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let why = if text.contains("not yet implemented") {
                        "not attempted yet (todo!)".to_string()
                    } else {
                        format!("panicked: {text}")
                    };
                    let _ = io::Write::write_all(&mut tx, why.as_bytes());
                    1
                }
            };
            // SAFETY: ends the throw-away child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(tx);
            let mut rx = File::from(rx);
            let mut fds = [PollFd::new(rx.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut fds, PollTimeout::from(20_000u16)).unwrap_or(0);
            let mut why = String::new();
            if ready > 0 {
                let _ = rx.read_to_string(&mut why);
            } else {
                let _ = kill(Pid::from_raw(-child.as_raw()), Signal::SIGKILL);
                why = "hangs (no answer within 20 s)".into();
            }
            // Whatever it did, kill what is left of its group, then reap it.
            let status = waitpid(child, None);
            let _ = kill(Pid::from_raw(-child.as_raw()), Signal::SIGKILL);
            match status {
                Ok(WaitStatus::Exited(_, 0)) if why.is_empty() => Ok(()),
                _ if !why.is_empty() => Err(why),
                other => Err(format!("the probe ended with {other:?}")),
            }
        }
    }
}
