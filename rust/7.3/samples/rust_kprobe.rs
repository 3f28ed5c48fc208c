// SPDX-License-Identifier: GPL-2.0

//! Rust kprobes sample.
//!
//! Watches `kernel_clone()`, which creates every process and thread, while the module is loaded:
//! a kprobe counts its calls, and a kretprobe counts its returns and the errors among them. The
//! counts are printed when the module is unloaded. Returns can be fewer than calls: a call still
//! in flight at unload, or more calls in flight at once than the kretprobe's default `maxactive`,
//! is not caught on return.

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

struct Calls(Atomic<u64>);

impl KprobeHandler for Calls {
    fn pre(&self, _regs: &PtRegs) {
        self.0.add(1, Relaxed);
    }
}

struct Returns {
    all: Atomic<u64>,
    errors: Atomic<u64>,
}

impl KretprobeHandler for Returns {
    fn ret(&self, regs: &PtRegs) {
        self.all.add(1, Relaxed);
        // `kernel_clone()` returns a `pid_t`: the new task's PID, or a negative error code.
        if (regs.return_value() as i32) < 0 {
            self.errors.add(1, Relaxed);
        }
    }
}

#[pin_data(PinnedDrop)]
struct RustKprobe {
    #[pin]
    calls: Kprobe<Calls>,
    #[pin]
    returns: Kretprobe<Returns>,
}

impl kernel::InPlaceModule for RustKprobe {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("Rust kprobes sample (init)\n");
        try_pin_init!(Self {
            calls <- Kprobe::new(c"kernel_clone", Calls(Atomic::new(0))),
            returns <- Kretprobe::new(
                c"kernel_clone",
                0,
                Returns {
                    all: Atomic::new(0),
                    errors: Atomic::new(0),
                },
            ),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for RustKprobe {
    fn drop(self: Pin<&mut Self>) {
        let returns = self.returns.handler();
        pr_info!(
            "kernel_clone(): {} calls, {} returns, {} errors\n",
            self.calls.handler().0.load(Relaxed),
            returns.all.load(Relaxed),
            returns.errors.load(Relaxed)
        );
        pr_info!("Rust kprobes sample (exit)\n");
    }
}
