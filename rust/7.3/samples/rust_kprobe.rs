// SPDX-License-Identifier: GPL-2.0

//! Rust kprobes sample.
//!
//! Watches `kernel_clone()`, which creates every process and thread, while the module is loaded:
//! a kprobe counts its calls, and a kretprobe counts its returns and the errors among them. The
//! counts are printed when the module is unloaded, once both probes are gone. Returns can be
//! fewer than calls: a call still in flight at unload, or more calls in flight at once than the
//! kretprobe's default `maxactive`, is not caught on return.

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

struct Calls;

impl KprobeHandler for Calls {
    fn pre(&self, _regs: &PtRegs) {
        CALLS.add(1, Relaxed);
    }
}

struct Returns;

impl KretprobeHandler for Returns {
    fn ret(&self, regs: &PtRegs) {
        RETURNS.add(1, Relaxed);
        // `kernel_clone()` returns a `pid_t`: the new task's PID, or a negative error code.
        if (regs.return_value() as i32) < 0 {
            ERRORS.add(1, Relaxed);
        }
    }
}

/// Prints the counts when dropped: after the probes, which are declared before it and so are
/// dropped, and unregistered, first. No handler can change the counts any more by then.
struct Report;

impl Drop for Report {
    fn drop(&mut self) {
        pr_info!(
            "kernel_clone(): {} calls, {} returns, {} errors\n",
            CALLS.load(Relaxed),
            RETURNS.load(Relaxed),
            ERRORS.load(Relaxed)
        );
        pr_info!("Rust kprobes sample (exit)\n");
    }
}

#[pin_data]
struct RustKprobe {
    #[pin]
    calls: Kprobe<Calls>,
    #[pin]
    returns: Kretprobe<Returns>,
    report: Report,
}

impl kernel::InPlaceModule for RustKprobe {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("Rust kprobes sample (init)\n");
        try_pin_init!(Self {
            calls <- Kprobe::new(c"kernel_clone", Calls),
            returns <- Kretprobe::new(c"kernel_clone", 0, Returns),
            report: Report,
        })
    }
}
