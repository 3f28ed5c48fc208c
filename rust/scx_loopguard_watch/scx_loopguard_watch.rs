// SPDX-License-Identifier: GPL-2.0

//! Watches the sched_ext dispatch loop from inside the kernel.
//!
//! `balance_one()` calls `ops.dispatch()` in a loop until a task reaches the local DSQ. With the
//! loop guard, it gives up after `SCX_DSP_MAX_LOOPS` rounds, kicks its own CPU with no flags, and
//! that CPU is rescheduled soon after. This module counts all of that per CPU, with kprobes:
//!
//! - `balance_scx()`, a kretprobe: one balance invocation, from entry to return;
//! - `flush_dispatch_buf()`: called once per loop round, and once per `scx_bpf_consume()`, which
//!   is probed too and subtracted;
//! - the kick: `scx_kick_cpu()` where the kernel has it, `scx_bpf_kick_cpu()` otherwise. A kick of
//!   this CPU with no flags inside a balance invocation is a break-out's self-kick;
//! - the next `balance_scx()` entry on a CPU after a break-out is its reschedule, timed;
//! - the time from entry to return of a `balance_scx()` that broke out is its IRQs-off window.
//!
//! The figures are in `/sys/kernel/debug/scx_loopguard/figures`; writing `reset` to it zeroes
//! them. The format is described in `rust/README.md` of scx-loopguard.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use kernel::{
    bindings, c_str,
    kprobes::{Kprobe, KprobeHandler, Kretprobe, KretprobeHandler, PtRegs},
    prelude::*,
    str::CStr,
    sync::Arc,
};

mod debugfs;

module! {
    type: LoopWatch,
    name: "scx_loopguard_watch",
    author: "scx-loopguard developers",
    description: "Counts sched_ext dispatch-loop break-outs, self-kicks and reschedules",
    license: "GPL",
}

/// CPUs tracked; hits on CPUs beyond this are counted in `untracked`.
const MAX_CPUS: usize = 64;
/// Rounds per invocation: slots 0..=64, the last one for 64 and more.
const ROUND_SLOTS: usize = 65;
/// Reschedule latency: slot n counts [2^(n-1), 2^n) ns, slot 0 counts 0 ns.
const LAT_SLOTS: usize = 48;

/// Version of the text format of the figures file.
const FORMAT_VERSION: u32 = 1;

fn this_cpu() -> usize {
    // SAFETY: Always safe to call; probe handlers run with preemption disabled, so the result is
    // stable for the rest of the handler.
    unsafe { bindings::raw_smp_processor_id() as usize }
}

fn now_ns() -> u64 {
    // SAFETY: NMI-safe, lockless read of the monotonic clock; callable from any context.
    unsafe { bindings::ktime_get_mono_fast_ns() }
}

fn slot_log2(v: u64) -> usize {
    ((u64::BITS - v.leading_zeros()) as usize).min(LAT_SLOTS - 1)
}

fn zero(counters: &[AtomicU64]) {
    for c in counters {
        c.store(0, Relaxed);
    }
}

fn sum(counters: &[AtomicU64]) -> u64 {
    counters.iter().map(|c| c.load(Relaxed)).sum()
}

/// Per-CPU figures. The state of the balance invocation in flight is only touched by its own
/// CPU, in probe handlers, which run with preemption disabled; the figures are read from any CPU.
/// Atomics with relaxed ordering make both safe; a reader may see an invocation half-counted.
struct CpuFigures {
    in_balance: AtomicBool,
    cur_flushes: AtomicU64,
    cur_consumes: AtomicU64,
    cur_self_kicks: AtomicU64,
    resched_pending: AtomicBool,
    breakout_at: AtomicU64,
    entry_at: AtomicU64,

    invocations: AtomicU64,
    rounds_max: AtomicU64,
    rounds_hist: [AtomicU64; ROUND_SLOTS],
    breakouts: AtomicU64,
    self_kicks: AtomicU64,
    kicks_flagged: AtomicU64,
    kicks_other_cpu: AtomicU64,
    kicks_outside: AtomicU64,
    resched: AtomicU64,
    lat_sum_ns: AtomicU64,
    lat_max_ns: AtomicU64,
    lat_hist: [AtomicU64; LAT_SLOTS],
    /// Time in the balance invocations that ended in a break-out, IRQs off.
    win_sum_ns: AtomicU64,
    win_max_ns: AtomicU64,
    win_hist: [AtomicU64; LAT_SLOTS],
}

impl CpuFigures {
    fn new() -> Self {
        Self {
            in_balance: AtomicBool::new(false),
            cur_flushes: AtomicU64::new(0),
            cur_consumes: AtomicU64::new(0),
            cur_self_kicks: AtomicU64::new(0),
            resched_pending: AtomicBool::new(false),
            breakout_at: AtomicU64::new(0),
            entry_at: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            rounds_max: AtomicU64::new(0),
            rounds_hist: core::array::from_fn(|_| AtomicU64::new(0)),
            breakouts: AtomicU64::new(0),
            self_kicks: AtomicU64::new(0),
            kicks_flagged: AtomicU64::new(0),
            kicks_other_cpu: AtomicU64::new(0),
            kicks_outside: AtomicU64::new(0),
            resched: AtomicU64::new(0),
            lat_sum_ns: AtomicU64::new(0),
            lat_max_ns: AtomicU64::new(0),
            lat_hist: core::array::from_fn(|_| AtomicU64::new(0)),
            win_sum_ns: AtomicU64::new(0),
            win_max_ns: AtomicU64::new(0),
            win_hist: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Zeroes the figures, not the invocation in flight.
    fn reset(&self) {
        for c in [
            &self.invocations,
            &self.rounds_max,
            &self.breakouts,
            &self.self_kicks,
            &self.kicks_flagged,
            &self.kicks_other_cpu,
            &self.kicks_outside,
            &self.resched,
            &self.lat_sum_ns,
            &self.lat_max_ns,
            &self.win_sum_ns,
            &self.win_max_ns,
        ] {
            c.store(0, Relaxed);
        }
        zero(&self.rounds_hist);
        zero(&self.lat_hist);
        zero(&self.win_hist);
        self.resched_pending.store(false, Relaxed);
    }
}

/// Everything the probes count, shared by the probes and the debugfs file.
pub(crate) struct Figures {
    cpus: KVec<CpuFigures>,
    untracked: AtomicU64,
    /// Index in `KICK_SYMBOLS` of the kick function probed.
    kick_symbol: AtomicUsize,
}

impl Figures {
    fn new() -> Result<Arc<Self>> {
        let mut cpus = KVec::with_capacity(MAX_CPUS, GFP_KERNEL)?;
        for _ in 0..MAX_CPUS {
            cpus.push(CpuFigures::new(), GFP_KERNEL)?;
        }
        Ok(Arc::new(
            Self {
                cpus,
                untracked: AtomicU64::new(0),
                kick_symbol: AtomicUsize::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn this_cpu(&self) -> Option<&CpuFigures> {
        let f = self.cpus.get(this_cpu());
        if f.is_none() {
            self.untracked.fetch_add(1, Relaxed);
        }
        f
    }

    pub(crate) fn reset(&self) {
        for c in self.cpus.iter() {
            c.reset();
        }
        self.untracked.store(0, Relaxed);
    }

    /// Writes the figures in the documented text format.
    pub(crate) fn write(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(w, "version {FORMAT_VERSION}")?;
        writeln!(
            w,
            "probes kick={} untracked={}",
            KICK_SYMBOLS[self.kick_symbol.load(Relaxed)],
            self.untracked.load(Relaxed)
        )?;
        let mut rounds = [0u64; ROUND_SLOTS];
        let mut lat = [0u64; LAT_SLOTS];
        let mut win = [0u64; LAT_SLOTS];
        let (mut total, mut rounds_max, mut lat_max, mut win_max) = ([0u64; 9], 0, 0, 0);
        for (cpu, c) in self.cpus.iter().enumerate() {
            let v = [
                c.invocations.load(Relaxed),
                c.breakouts.load(Relaxed),
                c.self_kicks.load(Relaxed),
                c.kicks_flagged.load(Relaxed),
                c.kicks_other_cpu.load(Relaxed),
                c.kicks_outside.load(Relaxed),
                c.resched.load(Relaxed),
                c.lat_sum_ns.load(Relaxed),
                sum(&c.rounds_hist),
            ];
            if v[0] == 0 && v[5] == 0 {
                continue;
            }
            let (rmax, lmax) = (c.rounds_max.load(Relaxed), c.lat_max_ns.load(Relaxed));
            writeln!(
                w,
                "cpu {cpu} invocations={} rounds_max={rmax} breakouts={} self_kicks={} \
                 kicks_flagged={} kicks_other_cpu={} kicks_outside={} resched={} \
                 lat_sum_ns={} lat_max_ns={lmax}",
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
            )?;
            for (t, x) in total.iter_mut().zip(v) {
                *t += x;
            }
            rounds_max = rounds_max.max(rmax);
            lat_max = lat_max.max(lmax);
            win_max = win_max.max(c.win_max_ns.load(Relaxed));
            for (t, x) in win.iter_mut().zip(&c.win_hist) {
                *t += x.load(Relaxed);
            }
            for (t, x) in rounds.iter_mut().zip(&c.rounds_hist) {
                *t += x.load(Relaxed);
            }
            for (t, x) in lat.iter_mut().zip(&c.lat_hist) {
                *t += x.load(Relaxed);
            }
        }
        writeln!(
            w,
            "total invocations={} rounds_max={rounds_max} breakouts={} self_kicks={} \
             kicks_flagged={} kicks_other_cpu={} kicks_outside={} resched={} lat_sum_ns={} \
             lat_max_ns={lat_max} lat_p50_ns={} lat_p99_ns={}",
            total[0],
            total[1],
            total[2],
            total[3],
            total[4],
            total[5],
            total[6],
            total[7],
            percentile(&lat, lat_max, 50),
            percentile(&lat, lat_max, 99)
        )?;
        writeln!(
            w,
            "window breakouts={} p50_ns={} p99_ns={} max_ns={win_max}",
            win.iter().sum::<u64>(),
            percentile(&win, win_max, 50),
            percentile(&win, win_max, 99)
        )?;
        write!(w, "rounds_hist")?;
        for (n, x) in rounds.iter().enumerate().filter(|(_, x)| **x != 0) {
            write!(w, " {n}:{x}")?;
        }
        writeln!(w)?;
        write!(w, "lat_hist_log2_ns")?;
        for (n, x) in lat.iter().enumerate().filter(|(_, x)| **x != 0) {
            write!(w, " {n}:{x}")?;
        }
        writeln!(w)?;
        write!(w, "window_hist_log2_ns")?;
        for (n, x) in win.iter().enumerate().filter(|(_, x)| **x != 0) {
            write!(w, " {n}:{x}")?;
        }
        writeln!(w)
    }
}

/// The upper bound of the log2 slot holding the `pct` percentile, capped at the maximum.
fn percentile(hist: &[u64], max: u64, pct: u64) -> u64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let want = (total * pct).div_ceil(100);
    let mut seen = 0;
    for (n, x) in hist.iter().enumerate() {
        seen += x;
        if seen >= want {
            return if n == 0 {
                0
            } else {
                ((1u64 << n) - 1).min(max)
            };
        }
    }
    max
}

/// `balance_scx()`: opens and closes a balance invocation.
struct Balance(Arc<Figures>);

impl KretprobeHandler for Balance {
    fn entry(&self, _regs: &PtRegs) {
        let Some(c) = self.0.this_cpu() else { return };
        if c.resched_pending.swap(false, Relaxed) {
            let lat = now_ns().saturating_sub(c.breakout_at.load(Relaxed));
            c.resched.fetch_add(1, Relaxed);
            c.lat_sum_ns.fetch_add(lat, Relaxed);
            c.lat_max_ns.fetch_max(lat, Relaxed);
            c.lat_hist[slot_log2(lat)].fetch_add(1, Relaxed);
        }
        c.cur_flushes.store(0, Relaxed);
        c.cur_consumes.store(0, Relaxed);
        c.cur_self_kicks.store(0, Relaxed);
        c.entry_at.store(now_ns(), Relaxed);
        c.in_balance.store(true, Relaxed);
    }

    fn ret(&self, _regs: &PtRegs) {
        let Some(c) = self.0.this_cpu() else { return };
        if !c.in_balance.swap(false, Relaxed) {
            return;
        }
        let rounds = c
            .cur_flushes
            .load(Relaxed)
            .saturating_sub(c.cur_consumes.load(Relaxed));
        c.invocations.fetch_add(1, Relaxed);
        c.rounds_max.fetch_max(rounds, Relaxed);
        c.rounds_hist[(rounds as usize).min(ROUND_SLOTS - 1)].fetch_add(1, Relaxed);
        let kicks = c.cur_self_kicks.load(Relaxed);
        if kicks > 0 {
            let now = now_ns();
            let win = now.saturating_sub(c.entry_at.load(Relaxed));
            c.breakouts.fetch_add(1, Relaxed);
            c.self_kicks.fetch_add(kicks, Relaxed);
            c.win_sum_ns.fetch_add(win, Relaxed);
            c.win_max_ns.fetch_max(win, Relaxed);
            c.win_hist[slot_log2(win)].fetch_add(1, Relaxed);
            c.breakout_at.store(now, Relaxed);
            c.resched_pending.store(true, Relaxed);
        }
    }
}

/// `flush_dispatch_buf()` or `scx_bpf_consume()` inside a balance invocation.
struct Round {
    figures: Arc<Figures>,
    consume: bool,
}

impl KprobeHandler for Round {
    fn pre(&self, _regs: &PtRegs) {
        let Some(c) = self.figures.this_cpu() else {
            return;
        };
        if c.in_balance.load(Relaxed) {
            let n = if self.consume {
                &c.cur_consumes
            } else {
                &c.cur_flushes
            };
            n.fetch_add(1, Relaxed);
        }
    }
}

/// The kick: `(cpu, flags)`.
struct Kick(Arc<Figures>);

impl KprobeHandler for Kick {
    fn pre(&self, regs: &PtRegs) {
        let Some(c) = self.0.this_cpu() else { return };
        let target = regs.arg(0).unwrap_or(u64::MAX) as i32;
        let flags = regs.arg(1).unwrap_or(u64::MAX);
        let counter = if !c.in_balance.load(Relaxed) {
            &c.kicks_outside
        } else if flags != 0 {
            &c.kicks_flagged
        } else if usize::try_from(target).ok() != Some(this_cpu()) {
            &c.kicks_other_cpu
        } else {
            &c.cur_self_kicks
        };
        counter.fetch_add(1, Relaxed);
    }
}

struct LoopWatch {
    // Dropped in this order: the file first, then the probes, then the figures.
    _file: debugfs::FiguresFile,
    probes: Probes,
}

struct Probes {
    balance: Pin<KBox<Kretprobe<Balance>>>,
    flush: Pin<KBox<Kprobe<Round>>>,
    consume: Pin<KBox<Kprobe<Round>>>,
    kick: Pin<KBox<Kprobe<Kick>>>,
}

impl Probes {
    pub(crate) fn missed(&self) -> u64 {
        self.balance.nmissed() + self.flush.nmissed() + self.consume.nmissed() + self.kick.nmissed()
    }
}

/// The kick function of this kernel: the core's own helper if it has one, else the kfunc.
const KICK_SYMBOLS: [&CStr; 2] = [c_str!("scx_kick_cpu"), c_str!("scx_bpf_kick_cpu")];

impl kernel::Module for LoopWatch {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let figures = Figures::new()?;
        let mut kick = Err(ENOENT);
        for (n, &sym) in KICK_SYMBOLS.iter().enumerate() {
            kick = KBox::pin_init(Kprobe::new(sym, Kick(figures.clone())), GFP_KERNEL);
            if kick.is_ok() {
                figures.kick_symbol.store(n, Relaxed);
                break;
            }
        }
        let kick = kick.inspect_err(|e| pr_err!("cannot probe a kick function: {:?}\n", e))?;
        let kick_symbol = KICK_SYMBOLS[figures.kick_symbol.load(Relaxed)];
        let probes = Probes {
            kick,
            flush: KBox::pin_init(
                Kprobe::new(
                    c_str!("flush_dispatch_buf"),
                    Round {
                        figures: figures.clone(),
                        consume: false,
                    },
                ),
                GFP_KERNEL,
            )?,
            consume: KBox::pin_init(
                Kprobe::new(
                    c_str!("scx_bpf_consume"),
                    Round {
                        figures: figures.clone(),
                        consume: true,
                    },
                ),
                GFP_KERNEL,
            )?,
            balance: KBox::pin_init(
                Kretprobe::new(c_str!("balance_scx"), 0, Balance(figures.clone())),
                GFP_KERNEL,
            )?,
        };
        let file = debugfs::FiguresFile::new(figures, module)?;
        pr_info!("watching balance_scx(), kicks through {}\n", kick_symbol);
        Ok(LoopWatch {
            _file: file,
            probes,
        })
    }
}

impl Drop for LoopWatch {
    fn drop(&mut self) {
        pr_info!("unloading, {} probe hits missed\n", self.probes.missed());
    }
}
