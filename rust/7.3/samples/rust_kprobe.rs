// SPDX-License-Identifier: GPL-2.0

//! Rust kprobes sample.
//!
//! While the module is loaded, a kretprobe watches `kernel_clone()`, which creates every process
//! and thread: it counts calls, returns and the errors among them, and the time spent in the
//! function, which the entry handler hands to the return handler of the same call. A kprobe on
//! `do_exit()` counts exits and, from its argument, those with a non-zero code. The counts are
//! printed when the module is unloaded, once both probes are gone. Returns can be fewer than
//! calls: a call still in flight at unload is not caught on return. A call beyond the kretprobe's
//! default `maxactive` calls in flight is not counted at all.

use kernel::{
    kprobes::{
        Kprobe,
        KprobeHandler,
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
        Instant,
        Monotonic, //
    },
};

module! {
    type: RustKprobe,
    name: "rust_kprobe",
    description: "Rust kprobes sample",
    license: "GPL",
}

static CALLS: Atomic<u64> = Atomic::new(0);
static RETURNS: Atomic<u64> = Atomic::new(0);
static ERRORS: Atomic<u64> = Atomic::new(0);
static NANOS: Atomic<u64> = Atomic::new(0);
static EXITS: Atomic<u64> = Atomic::new(0);
static FAILED: Atomic<u64> = Atomic::new(0);

struct KernelClone;

#[vtable]
impl KretprobeHandler for KernelClone {
    /// When the call started.
    type Data = Option<Instant<Monotonic>>;

    fn entry(&self, _regs: &PtRegs) -> Option<Self::Data> {
        // `kernel_clone()` never runs in NMI, where `Instant::now()` would not be safe.
        CALLS.add(1, Relaxed);
        Some(Some(Instant::now()))
    }

    fn ret(&self, regs: &PtRegs, start: Self::Data) {
        RETURNS.add(1, Relaxed);
        // `kernel_clone()` returns a `pid_t`: the new task's PID, or a negative error code.
        if (regs.return_value() as i32) < 0 {
            ERRORS.add(1, Relaxed);
        }
        if let Some(start) = start {
            NANOS.add(start.elapsed().as_nanos().unsigned_abs(), Relaxed);
        }
    }
}

struct DoExit;

impl KprobeHandler for DoExit {
    fn pre(&self, regs: &PtRegs) {
        EXITS.add(1, Relaxed);
        // `do_exit(long code)`.
        if regs.arg(0) as c_long != 0 {
            FAILED.add(1, Relaxed);
        }
    }
}

/// Prints the counts when dropped: after the probes, which are declared before it and so are
/// dropped, and unregistered, first. No handler can change the counts any more by then.
struct Report;

impl Drop for Report {
    fn drop(&mut self) {
        pr_info!(
            "kernel_clone(): {} calls, {} returns, {} errors, {} us in all\n",
            CALLS.load(Relaxed),
            RETURNS.load(Relaxed),
            ERRORS.load(Relaxed),
            NANOS.load(Relaxed) / 1000
        );
        pr_info!(
            "do_exit(): {} exits, {} with a non-zero code\n",
            EXITS.load(Relaxed),
            FAILED.load(Relaxed)
        );
        pr_info!("Rust kprobes sample (exit)\n");
    }
}

#[pin_data]
struct RustKprobe {
    #[pin]
    clone: Kretprobe<KernelClone>,
    #[pin]
    exit: Kprobe<DoExit>,
    report: Report,
}

impl kernel::InPlaceModule for RustKprobe {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("Rust kprobes sample (init)\n");
        try_pin_init!(Self {
            clone <- Kretprobe::new(c"kernel_clone", 0, KernelClone),
            exit <- Kprobe::new(c"do_exit", DoExit),
            report: Report,
        })
    }
}
