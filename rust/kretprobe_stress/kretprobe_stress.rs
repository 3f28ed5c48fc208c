// SPDX-License-Identifier: GPL-2.0

//! Stress of the Rust `Kretprobe` (7.3's series, v2): [`ROUNDS`] times at load, registers two
//! kretprobes, waits a little and unregisters them, while user space calls the probed functions
//! in loops on another CPU:
//!
//! - `__task_pid_nr_ns()`, which `getppid()` and `/proc/self/stat` call: short calls, many of
//!   them entered and returned while each probe is live;
//! - `hrtimer_nanosleep()`, which `nanosleep()` calls: calls that sleep, so that some are still
//!   in flight when their probe is unregistered.
//!
//! A return in flight when its probe goes is not handed to the return handler: the core drops it
//! (with rethook, `rethook_stop()`; without, as on arm64, `get_kretprobe()` gives NULL and the
//! core skips the handler; if the probe goes between the core's check and the handler's own, the
//! handler's `None` branch drops it). So `entries - returns` counts the returns lost to
//! unregistering, and every return handed over must carry the data that its own probe's entry
//! handler wrote: each round's probes tag their calls with the round.
//!
//! The figures are printed when the module has loaded; a splat, a wrong tag, or more returns
//! than calls is the failure.

use kernel::{
    kprobes::{
        Kretprobe,
        KretprobeHandler,
        PtRegs, //
    },
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
};

module! {
    type: KretprobeStress,
    name: "kretprobe_stress",
    description: "Registers and unregisters a Rust kretprobe while calls return through it",
    license: "GPL",
}

/// Rounds of probes registered and unregistered.
const ROUNDS: u64 = 200;

/// What one probed function saw over all rounds.
struct Counts {
    entries: Atomic<u64>,
    returns: Atomic<u64>,
    wrong: Atomic<u64>,
}

impl Counts {
    const fn new() -> Self {
        Self {
            entries: Atomic::new(0),
            returns: Atomic::new(0),
            wrong: Atomic::new(0),
        }
    }
}

static SHORT: Counts = Counts::new();
static SLEEPING: Counts = Counts::new();

/// One round's probe on one function, which tags each call with its round.
struct Round {
    round: u64,
    counts: &'static Counts,
}

#[vtable]
impl KretprobeHandler for Round {
    /// The round of the probe whose entry handler saw the call.
    type Data = u64;

    fn entry(&self, _regs: &PtRegs) -> Option<u64> {
        self.counts.entries.add(1, Relaxed);
        Some(self.round)
    }

    fn ret(&self, _regs: &PtRegs, round: u64) {
        self.counts.returns.add(1, Relaxed);
        if round != self.round {
            self.counts.wrong.add(1, Relaxed);
        }
    }
}

fn probe(
    symbol: &'static CStr,
    round: u64,
    counts: &'static Counts,
) -> Result<Pin<KBox<Kretprobe<Round>>>> {
    KBox::pin_init(
        Kretprobe::new(symbol, 0, Round { round, counts }),
        GFP_KERNEL,
    )
}

fn report(what: &str, c: &Counts) {
    let (entries, returns) = (c.entries.load(Relaxed), c.returns.load(Relaxed));
    pr_info!(
        "{}: entries={} returns={} lost={} wrong_data={}\n",
        what,
        entries,
        returns,
        entries.saturating_sub(returns),
        c.wrong.load(Relaxed)
    );
}

struct KretprobeStress;

impl kernel::Module for KretprobeStress {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut done = 0;
        for round in 0..ROUNDS {
            let short = probe(c"__task_pid_nr_ns", round, &SHORT)?;
            let sleeping = probe(c"hrtimer_nanosleep", round, &SLEEPING)?;
            fsleep(Delta::from_millis(2));
            drop(short);
            drop(sleeping);
            done += 1;
        }
        pr_info!("rounds={}\n", done);
        report("short", &SHORT);
        report("sleeping", &SLEEPING);
        Ok(KretprobeStress)
    }
}
