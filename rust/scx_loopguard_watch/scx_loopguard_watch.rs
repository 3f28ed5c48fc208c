// SPDX-License-Identifier: GPL-2.0

//! Watches the sched_ext dispatch loop from inside the kernel, from other points than the BPF
//! witness of scx-loopguard, so that the two can disagree when the kernel is wrong.
//!
//! `balance_one()` calls `ops.dispatch()` in a loop until a task reaches the local DSQ. With the
//! loop guard, it gives up after `SCX_DSP_MAX_LOOPS` rounds, kicks its own CPU with no flags
//! through an irq_work, and that irq_work reschedules the CPU once the pick is done. This module
//! counts all of that per CPU, with kprobes:
//!
//! - `balance_scx()`, a kretprobe: one balance invocation, from entry to return;
//! - `flush_dispatch_buf()`: called once per loop round, and once per `scx_bpf_consume()`, which
//!   is probed too and subtracted;
//! - the kick: `scx_kick_cpu()` where the kernel has it, `scx_bpf_kick_cpu()` otherwise, for its
//!   target and flags; `irq_work_queue()` inside an invocation, for the kick's deferral;
//! - `kick_cpus_irq_workfn()`, a kretprobe: whether the kick's deferred work left this CPU's
//!   need-resched flag set, read from the task's thread flags, not from any call it makes;
//! - the next `balance_scx()` entry on a CPU after an invocation that reached the bound: "tied"
//!   if the irq_work had asked for it, "untied" if the CPU came back for another reason.
//!
//! An invocation reached the bound if it made exactly `max_loops` rounds, which the reader sets
//! by writing `reset max_loops=N` to the figures file: that count does not depend on any kick.
//! The figures are in `/sys/kernel/debug/scx_loopguard/figures`. The format is described in
//! `rust/README.md` of scx-loopguard.
//!
//! Writing `trace_stop` to the figures file arms a one-shot trace stop: at the next invocation
//! with a self-kick, the module writes one line into the top-level ftrace buffer and turns that
//! buffer off, so that the buffer ends with one break-out and what ran before it. 7.3's
//! break-out event is only a count, and has no record of one occurrence. This needs
//! `CONFIG_TRACING`.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use kernel::{
    bindings, c_str,
    kprobes::{Kprobe, KprobeHandler, Kretprobe, KretprobeHandler, PtRegs},
    prelude::*,
    str::CStr,
    sync::Arc,
};

/// The longest command the figures file takes.
const COMMAND_MAX: usize = 32;

// The figures file: on `kernel::debugfs` where its file operations have an owner (7.3 with the
// fix of scx-loopguard), else on a layer of its own over the C API (6.12).
#[cfg_attr(not(kernel_debugfs_owner), path = "debugfs.rs")]
mod figures_file;

module! {
    type: LoopWatch,
    name: "scx_loopguard_watch",
    description: "Counts sched_ext dispatch-loop break-outs, self-kicks and reschedules",
    license: "GPL",
}

/// Rounds per invocation: slots 0..=64, the last one for 64 and more.
const ROUND_SLOTS: usize = 65;
/// Reschedule latency: slot n counts [2^(n-1), 2^n) ns, slot 0 counts 0 ns.
const LAT_SLOTS: usize = 48;

/// Version of the text format of the figures file.
const FORMAT_VERSION: u32 = 2;

/// Counters per CPU, summed in the `total` line; see `CpuFigures::counters()`.
const NR_COUNTERS: usize = 13;

/// Where a CPU is between an invocation that reached the bound and its next invocation.
const PEND_NONE: u8 = 0;
/// An invocation reached the bound; nothing since.
const PEND_BOUND: u8 = 1;
/// The kick's irq_work left the need-resched flag set, which it had found clear.
const PEND_RESCHED: u8 = 2;
/// The kick's irq_work ran, but the flag was already set: it cannot be told apart.
const PEND_UNSURE: u8 = 3;

/// Whether the current task has its need-resched flag set.
fn need_resched() -> bool {
    // SAFETY: `get_current()` returns the running task, which stays valid for the duration of
    // the handler. Other CPUs set bits in its thread flags with atomic RMW operations, so the
    // word is read with one volatile load, as C's `test_bit()` does, not a plain one.
    let flags = unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!(
            (*bindings::get_current()).thread_info.flags
        ))
    };
    flags & (1 << bindings::TIF_NEED_RESCHED) != 0
}

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

/// Per-CPU figures. The state of the balance invocation in flight is only touched by its own
/// CPU, in probe handlers, which run with preemption disabled; the figures are read from any CPU.
/// Atomics with relaxed ordering make both safe; a reader may see an invocation half-counted.
struct CpuFigures {
    in_balance: AtomicBool,
    cur_flushes: AtomicU64,
    cur_consumes: AtomicU64,
    cur_self_kicks: AtomicU64,
    cur_deferred: AtomicU64,
    pending: AtomicU8,
    bound_at: AtomicU64,

    invocations: AtomicU64,
    rounds_max: AtomicU64,
    rounds_hist: [AtomicU64; ROUND_SLOTS],
    /// Invocations with a self-kick, by their rounds.
    breakout_rounds_hist: [AtomicU64; ROUND_SLOTS],
    breakouts: AtomicU64,
    self_kicks: AtomicU64,
    kicks_flagged: AtomicU64,
    kicks_other_cpu: AtomicU64,
    kicks_outside: AtomicU64,
    at_bound: AtomicU64,
    bound_deferred: AtomicU64,
    iw_resched: AtomicU64,
    tied: AtomicU64,
    unsure: AtomicU64,
    untied: AtomicU64,
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
            cur_deferred: AtomicU64::new(0),
            pending: AtomicU8::new(PEND_NONE),
            bound_at: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            rounds_max: AtomicU64::new(0),
            rounds_hist: core::array::from_fn(|_| AtomicU64::new(0)),
            breakout_rounds_hist: core::array::from_fn(|_| AtomicU64::new(0)),
            breakouts: AtomicU64::new(0),
            self_kicks: AtomicU64::new(0),
            kicks_flagged: AtomicU64::new(0),
            kicks_other_cpu: AtomicU64::new(0),
            kicks_outside: AtomicU64::new(0),
            at_bound: AtomicU64::new(0),
            bound_deferred: AtomicU64::new(0),
            iw_resched: AtomicU64::new(0),
            tied: AtomicU64::new(0),
            unsure: AtomicU64::new(0),
            untied: AtomicU64::new(0),
            lat_sum_ns: AtomicU64::new(0),
            lat_max_ns: AtomicU64::new(0),
            lat_hist: core::array::from_fn(|_| AtomicU64::new(0)),
            win_sum_ns: AtomicU64::new(0),
            win_max_ns: AtomicU64::new(0),
            win_hist: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The counters a `cpu` and the `total` line show, with their keys, in that order.
    fn counters(&self) -> [(&'static str, &AtomicU64); NR_COUNTERS] {
        [
            ("invocations", &self.invocations),
            ("breakouts", &self.breakouts),
            ("self_kicks", &self.self_kicks),
            ("kicks_flagged", &self.kicks_flagged),
            ("kicks_other_cpu", &self.kicks_other_cpu),
            ("kicks_outside", &self.kicks_outside),
            ("at_bound", &self.at_bound),
            ("bound_deferred", &self.bound_deferred),
            ("irq_work_resched", &self.iw_resched),
            ("tied", &self.tied),
            ("unsure", &self.unsure),
            ("untied", &self.untied),
            ("lat_sum_ns", &self.lat_sum_ns),
        ]
    }

    /// Zeroes the figures, not the invocation in flight.
    fn reset(&self) {
        for (_, c) in self.counters() {
            c.store(0, Relaxed);
        }
        for c in [
            &self.rounds_max,
            &self.lat_max_ns,
            &self.win_sum_ns,
            &self.win_max_ns,
        ] {
            c.store(0, Relaxed);
        }
        zero(&self.rounds_hist);
        zero(&self.breakout_rounds_hist);
        zero(&self.lat_hist);
        zero(&self.win_hist);
        self.pending.store(PEND_NONE, Relaxed);
    }
}

/// `fmt::Write` into a fixed buffer, truncating, that always leaves room for a NUL.
struct LineBuf {
    buf: [u8; 96],
    len: usize,
}

impl core::fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes one line about a break-out into the ftrace buffer that `trace_printk()` writes to (the
/// top-level one, unless an instance has taken `trace_printk_dest`), then turns the top-level
/// buffer off. Callable from a probe handler, with a runqueue lock held and IRQs off: the ring
/// buffer's writers are lockless and may nest, any reader wake-up is deferred to an irq_work, and
/// `tracing_off()` only sets a flag. Needs `CONFIG_TRACING`.
fn trace_breakout(cpu: usize, rounds: u64) {
    use core::fmt::Write;
    let mut line = LineBuf {
        buf: [0; 96],
        len: 0,
    };
    let _ = writeln!(
        line,
        "scx_loopguard_watch: dispatch-loop break-out cpu={cpu} rounds={rounds}"
    );
    // `write_str()` never fills the last byte, and the buffer started zeroed: `text` is
    // NUL-terminated, `line.len` bytes before the NUL, and never empty (the format is not).
    let text = line.buf.as_ptr().cast::<kernel::ffi::c_char>();
    // The address printed before the line: none (shown as `0`).
    #[cfg(trace_puts_size)]
    // SAFETY: `text` is valid for reads of `line.len` bytes, at least one; the function copies
    // them into the ring buffer before it returns, and may be called in any context (see above).
    unsafe {
        bindings::__trace_puts(0, text, line.len as kernel::ffi::c_int)
    };
    #[cfg(not(trace_puts_size))]
    // SAFETY: `text` is NUL-terminated; this kernel's `__trace_puts()` takes the length from the
    // NUL and copies the string before it returns, in any context (see above).
    unsafe {
        bindings::__trace_puts(0, text)
    };
    // SAFETY: No preconditions: it sets the top-level buffer's record-disable flag.
    unsafe { bindings::tracing_off() };
}

/// Everything the probes count, shared by the probes and the debugfs file.
pub(crate) struct Figures {
    /// One entry per possible CPU id, `nr_cpu_ids` of them.
    cpus: KVec<CpuFigures>,
    /// Index in `POINTS` of this kernel's points.
    points: AtomicUsize,
    /// Index in its `kicks` of the kick function probed.
    kick_symbol: AtomicUsize,
    /// The bound invocations are held to, 0 until a reader sets it.
    max_loops: AtomicU64,
    /// Whether the next break-out stops the trace; see `trace_breakout()`.
    trace_stop: AtomicBool,
}

impl Figures {
    fn new() -> Result<Arc<Self>> {
        // SAFETY: `nr_cpu_ids` is set once during boot, before any module can load.
        let nr = unsafe { bindings::nr_cpu_ids } as usize;
        let mut cpus = KVec::with_capacity(nr, GFP_KERNEL)?;
        for _ in 0..nr {
            cpus.push(CpuFigures::new(), GFP_KERNEL)?;
        }
        Ok(Arc::new(
            Self {
                cpus,
                points: AtomicUsize::new(0),
                kick_symbol: AtomicUsize::new(0),
                max_loops: AtomicU64::new(0),
                trace_stop: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?)
    }

    /// The names of the invocation and kick functions probed.
    fn symbols(&self) -> (&'static str, &'static str) {
        let points = &POINTS[self.points.load(Relaxed)];
        let kick = points.kicks[self.kick_symbol.load(Relaxed)].0;
        (
            points.invocation.to_str().unwrap_or("?"),
            kick.to_str().unwrap_or("?"),
        )
    }

    /// This CPU's figures. Every CPU id is below `nr_cpu_ids`, so this is never `None` in
    /// practice; a probe handler that gets `None` counts nothing.
    fn this_cpu(&self) -> Option<&CpuFigures> {
        self.cpus.get(this_cpu())
    }

    /// Runs a command written to the figures file, without its trailing newline: `reset`
    /// zeroes the figures, `reset max_loops=N` also sets the bound that invocations are held
    /// to, and `trace_stop` arms the one-shot trace stop at the next break-out. Anything else
    /// is `EINVAL`.
    pub(crate) fn command(&self, cmd: &[u8]) -> Result {
        if cmd == b"trace_stop" {
            self.trace_stop.store(true, Relaxed);
            return Ok(());
        }
        let max_loops = match cmd.strip_prefix(b"reset") {
            Some(b"") => None,
            Some(rest) => Some(
                rest.strip_prefix(b" max_loops=")
                    .and_then(|v| core::str::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(EINVAL)?,
            ),
            None => return Err(EINVAL),
        };
        for c in self.cpus.iter() {
            c.reset();
        }
        if let Some(m) = max_loops {
            self.max_loops.store(m, Relaxed);
        }
        Ok(())
    }

    /// Writes the figures in the documented text format.
    pub(crate) fn write(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(w, "version {FORMAT_VERSION}")?;
        let (invocation, kick) = self.symbols();
        writeln!(
            w,
            "probes invocation={invocation} kick={kick} max_loops={} cpus={}",
            self.max_loops.load(Relaxed),
            self.cpus.len()
        )?;
        let mut rounds = [0u64; ROUND_SLOTS];
        let mut bo_rounds = [0u64; ROUND_SLOTS];
        let mut lat = [0u64; LAT_SLOTS];
        let mut win = [0u64; LAT_SLOTS];
        let mut total = [0u64; NR_COUNTERS];
        let (mut rounds_max, mut lat_max, mut win_max) = (0, 0, 0);
        for (cpu, c) in self.cpus.iter().enumerate() {
            if c.invocations.load(Relaxed) == 0 && c.kicks_outside.load(Relaxed) == 0 {
                continue;
            }
            let (rmax, lmax) = (c.rounds_max.load(Relaxed), c.lat_max_ns.load(Relaxed));
            write!(w, "cpu {cpu} rounds_max={rmax} lat_max_ns={lmax}")?;
            for ((k, x), t) in c.counters().into_iter().zip(total.iter_mut()) {
                let x = x.load(Relaxed);
                write!(w, " {k}={x}")?;
                *t += x;
            }
            writeln!(w)?;
            rounds_max = rounds_max.max(rmax);
            lat_max = lat_max.max(lmax);
            win_max = win_max.max(c.win_max_ns.load(Relaxed));
            for (t, x) in win.iter_mut().zip(&c.win_hist) {
                *t += x.load(Relaxed);
            }
            for (t, x) in rounds.iter_mut().zip(&c.rounds_hist) {
                *t += x.load(Relaxed);
            }
            for (t, x) in bo_rounds.iter_mut().zip(&c.breakout_rounds_hist) {
                *t += x.load(Relaxed);
            }
            for (t, x) in lat.iter_mut().zip(&c.lat_hist) {
                *t += x.load(Relaxed);
            }
        }
        write!(w, "total rounds_max={rounds_max} lat_max_ns={lat_max}")?;
        // The keys are the same for every CPU, and there is at least one.
        let keys = self.cpus.first().map(|c| c.counters().map(|(k, _)| k));
        for (k, x) in keys.into_iter().flatten().zip(total) {
            write!(w, " {k}={x}")?;
        }
        writeln!(
            w,
            " lat_p50_ns={} lat_p99_ns={}",
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
        for (name, hist) in [
            ("rounds_hist", &rounds[..]),
            ("breakout_rounds_hist", &bo_rounds[..]),
            ("lat_hist_log2_ns", &lat[..]),
            ("window_hist_log2_ns", &win[..]),
        ] {
            write!(w, "{name}")?;
            for (n, x) in hist.iter().enumerate().filter(|(_, x)| **x != 0) {
                write!(w, " {n}:{x}")?;
            }
            writeln!(w)?;
        }
        Ok(())
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

#[vtable]
impl KretprobeHandler for Balance {
    /// When the invocation started, in ns.
    type Data = u64;

    fn entry(&self, _regs: &PtRegs) -> Option<u64> {
        let c = self.0.this_cpu()?;
        // The next invocation after one that reached the bound: was it the kick's doing?
        match c.pending.swap(PEND_NONE, Relaxed) {
            PEND_RESCHED => {
                let lat = now_ns().saturating_sub(c.bound_at.load(Relaxed));
                c.tied.fetch_add(1, Relaxed);
                c.lat_sum_ns.fetch_add(lat, Relaxed);
                c.lat_max_ns.fetch_max(lat, Relaxed);
                c.lat_hist[slot_log2(lat)].fetch_add(1, Relaxed);
            }
            PEND_UNSURE => {
                c.unsure.fetch_add(1, Relaxed);
            }
            PEND_BOUND => {
                c.untied.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        c.cur_flushes.store(0, Relaxed);
        c.cur_consumes.store(0, Relaxed);
        c.cur_self_kicks.store(0, Relaxed);
        c.cur_deferred.store(0, Relaxed);
        c.in_balance.store(true, Relaxed);
        Some(now_ns())
    }

    fn ret(&self, _regs: &PtRegs, entry_at: u64) {
        let Some(c) = self.0.this_cpu() else { return };
        if !c.in_balance.swap(false, Relaxed) {
            return;
        }
        let rounds = c
            .cur_flushes
            .load(Relaxed)
            .saturating_sub(c.cur_consumes.load(Relaxed));
        let slot = (rounds as usize).min(ROUND_SLOTS - 1);
        let now = now_ns();
        c.invocations.fetch_add(1, Relaxed);
        c.rounds_max.fetch_max(rounds, Relaxed);
        c.rounds_hist[slot].fetch_add(1, Relaxed);
        let kicks = c.cur_self_kicks.load(Relaxed);
        if kicks > 0 {
            let win = now.saturating_sub(entry_at);
            c.breakouts.fetch_add(1, Relaxed);
            c.self_kicks.fetch_add(kicks, Relaxed);
            c.breakout_rounds_hist[slot].fetch_add(1, Relaxed);
            c.win_sum_ns.fetch_add(win, Relaxed);
            c.win_max_ns.fetch_max(win, Relaxed);
            c.win_hist[slot_log2(win)].fetch_add(1, Relaxed);
            if self.0.trace_stop.swap(false, Relaxed) {
                trace_breakout(this_cpu(), rounds);
            }
        }
        let max = self.0.max_loops.load(Relaxed);
        if max != 0 && rounds == max {
            c.at_bound.fetch_add(1, Relaxed);
            if c.cur_deferred.load(Relaxed) > 0 {
                c.bound_deferred.fetch_add(1, Relaxed);
            }
            c.bound_at.store(now, Relaxed);
            c.pending.store(PEND_BOUND, Relaxed);
        }
    }
}

/// `kick_cpus_irq_workfn()`: did the kick's deferred work ask this CPU to reschedule?
struct IrqWork(Arc<Figures>);

#[vtable]
impl KretprobeHandler for IrqWork {
    /// Whether the need-resched flag was set already when the work started.
    type Data = bool;

    fn entry(&self, _regs: &PtRegs) -> Option<bool> {
        Some(need_resched())
    }

    fn ret(&self, _regs: &PtRegs, flag_before: bool) {
        let Some(c) = self.0.this_cpu() else { return };
        if c.pending.load(Relaxed) != PEND_BOUND || !need_resched() {
            return;
        }
        if flag_before {
            c.pending.store(PEND_UNSURE, Relaxed);
        } else {
            c.iw_resched.fetch_add(1, Relaxed);
            c.pending.store(PEND_RESCHED, Relaxed);
        }
    }
}

/// `irq_work_queue()` inside a balance invocation: the kick's deferral.
struct Defer(Arc<Figures>);

impl KprobeHandler for Defer {
    fn pre(&self, _regs: &PtRegs) {
        let Some(c) = self.0.this_cpu() else { return };
        if c.in_balance.load(Relaxed) {
            c.cur_deferred.fetch_add(1, Relaxed);
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

/// The kick: `(cpu, flags)`, at these argument positions.
struct Kick {
    figures: Arc<Figures>,
    cpu_arg: u32,
    flags_arg: u32,
}

impl KprobeHandler for Kick {
    fn pre(&self, regs: &PtRegs) {
        let Some(c) = self.figures.this_cpu() else {
            return;
        };
        // An `int` and a `u64`, each in a register of its own.
        let target = regs.arg(self.cpu_arg) as i32;
        let flags = regs.arg(self.flags_arg);
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

/// The functions probed on one kernel line.
struct Points {
    /// The invocation that runs the dispatch loop, inlined.
    invocation: &'static CStr,
    /// Called once per loop round, right after `ops.dispatch()`.
    flush: &'static CStr,
    /// Kfuncs that flush the dispatch buffer too: subtracted.
    consume: &'static [&'static CStr],
    /// The kick function and the positions of its CPU and flags arguments: the core's own helper
    /// if the kernel has one, else the kfunc.
    kicks: &'static [(&'static CStr, u32, u32)],
}

/// Tried in this order; the first whose invocation can be probed is this kernel's.
const POINTS: [Points; 2] = [
    // 6.12: balance_scx() runs balance_one() and its loop.
    Points {
        invocation: c_str!("balance_scx"),
        flush: c_str!("flush_dispatch_buf"),
        consume: &[c_str!("scx_bpf_consume")],
        kicks: &[
            (c_str!("scx_kick_cpu"), 0, 1),
            (c_str!("scx_bpf_kick_cpu"), 0, 1),
        ],
    },
    // 7.3: do_pick_task_scx() runs scx_dispatch_sched() and its loop.
    Points {
        invocation: c_str!("do_pick_task_scx"),
        flush: c_str!("scx_flush_dispatch_buf"),
        consume: &[
            c_str!("scx_bpf_dsq_move_to_local"),
            c_str!("scx_bpf_dsq_move_to_local___v2"),
        ],
        kicks: &[(c_str!("scx_kick_cpu"), 1, 2)],
    },
];

struct LoopWatch {
    // Dropped in this order: the file first, then the probes, then the figures.
    _file: figures_file::FiguresFile,
    _probes: Probes,
}

/// The probes, held until the module is unloaded.
struct Probes {
    _invocation: Pin<KBox<Kretprobe<Balance>>>,
    _flush: Pin<KBox<Kprobe<Round>>>,
    _consume: KVec<Pin<KBox<Kprobe<Round>>>>,
    _kick: Pin<KBox<Kprobe<Kick>>>,
    _defer: Pin<KBox<Kprobe<Defer>>>,
    _irq_work: Pin<KBox<Kretprobe<IrqWork>>>,
}

fn round(
    figures: &Arc<Figures>,
    symbol: &'static CStr,
    consume: bool,
) -> Result<Pin<KBox<Kprobe<Round>>>> {
    let round = Round {
        figures: figures.clone(),
        consume,
    };
    KBox::pin_init(Kprobe::new(symbol, round), GFP_KERNEL)
}

impl kernel::Module for LoopWatch {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let figures = Figures::new()?;
        // This kernel's points: the first set whose invocation function exists.
        let mut found = None;
        for (n, points) in POINTS.iter().enumerate() {
            let balance = Balance(figures.clone());
            if let Ok(p) = KBox::pin_init(Kretprobe::new(points.invocation, 0, balance), GFP_KERNEL)
            {
                found = Some((n, p));
                break;
            }
        }
        let Some((n, invocation)) = found else {
            pr_err!("no function to probe for the dispatch loop's invocations\n");
            return Err(ENOENT);
        };
        let points = &POINTS[n];
        figures.points.store(n, Relaxed);
        let mut kick = Err(ENOENT);
        for (k, &(symbol, cpu_arg, flags_arg)) in points.kicks.iter().enumerate() {
            let handler = Kick {
                figures: figures.clone(),
                cpu_arg,
                flags_arg,
            };
            kick = KBox::pin_init(Kprobe::new(symbol, handler), GFP_KERNEL);
            if kick.is_ok() {
                figures.kick_symbol.store(k, Relaxed);
                break;
            }
        }
        let kick = kick.inspect_err(|e| pr_err!("cannot probe a kick function: {:?}\n", e))?;
        let mut consume = KVec::with_capacity(points.consume.len(), GFP_KERNEL)?;
        for &symbol in points.consume {
            consume.push(round(&figures, symbol, true)?, GFP_KERNEL)?;
        }
        let probes = Probes {
            _flush: round(&figures, points.flush, false)?,
            _consume: consume,
            _kick: kick,
            _defer: KBox::pin_init(
                Kprobe::new(c_str!("irq_work_queue"), Defer(figures.clone())),
                GFP_KERNEL,
            )?,
            _irq_work: KBox::pin_init(
                Kretprobe::new(c_str!("kick_cpus_irq_workfn"), 0, IrqWork(figures.clone())),
                GFP_KERNEL,
            )?,
            _invocation: invocation,
        };
        let (invocation, kick) = figures.symbols();
        let file = figures_file::FiguresFile::new(figures, module)?;
        pr_info!(
            "watching {}(), kicks through {}() and kick_cpus_irq_workfn()\n",
            invocation,
            kick
        );
        Ok(LoopWatch {
            _file: file,
            _probes: probes,
        })
    }
}

impl Drop for LoopWatch {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
