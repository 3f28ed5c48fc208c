// SPDX-License-Identifier: GPL-2.0

//! Kernel probes: kprobes and kretprobes.
//!
//! A [`Kprobe`] calls its handler whenever the CPU reaches a kernel symbol; a [`Kretprobe`] calls
//! its handlers when a kernel function is entered and when it returns. Both are registered when
//! they are initialised and unregistered when they are dropped, and they must be pinned in
//! between, as the kprobes core keeps pointers to them.
//!
//! Handlers run in atomic context, with preemption disabled and possibly with interrupts disabled,
//! on whatever CPU hit the probe. They must not sleep and should be short.
//!
//! C header: [`include/linux/kprobes.h`](srctree/include/linux/kprobes.h)
//!
//! Reference: <https://docs.kernel.org/trace/kprobes.html>

use crate::{
    bindings,
    error::{to_result, Error},
    init::{pin_init_from_closure, PinInit},
    str::CStr,
    try_pin_init,
    types::Opaque,
};
use core::{ffi::c_int, marker::PhantomPinned};
use macros::{pin_data, pinned_drop};

/// The register state of the CPU that hit a probe.
///
/// Only handed out by reference, for the duration of a handler call.
#[repr(transparent)]
pub struct PtRegs(Opaque<bindings::pt_regs>);

impl PtRegs {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct pt_regs` that stays valid and unchanged for `'a`.
    unsafe fn from_raw<'a>(ptr: *const bindings::pt_regs) -> &'a Self {
        // SAFETY: `PtRegs` is a transparent wrapper of `pt_regs`, and the caller guarantees that
        // `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Returns the `n`th integer or pointer argument, counted from 0, of the function whose entry
    /// was probed, if it is passed in a register.
    ///
    /// This follows the C calling convention, so it is only meaningful in a probe on the first
    /// instruction of a function, e.g. in a [`KprobeHandler`] of a probe on a function symbol or
    /// in [`KretprobeHandler::entry`].
    #[cfg(CONFIG_X86_64)]
    pub fn arg(&self, n: usize) -> Option<u64> {
        // SAFETY: By the type invariant of `PtRegs` references, the registers are valid and do not
        // change while `self` is borrowed.
        let regs = unsafe { &*self.0.get() };
        let value = match n {
            0 => regs.di,
            1 => regs.si,
            2 => regs.dx,
            3 => regs.cx,
            4 => regs.r8,
            5 => regs.r9,
            _ => return None,
        };
        Some(value as u64)
    }

    /// Returns the value the probed function returns, in a [`KretprobeHandler::ret`] call.
    #[cfg(CONFIG_X86_64)]
    pub fn return_value(&self) -> u64 {
        // SAFETY: As in `arg()`.
        let regs = unsafe { &*self.0.get() };
        regs.ax as u64
    }
}

/// What a [`Kprobe`] does when it is hit.
pub trait KprobeHandler: Send + Sync {
    /// Called before the probed instruction is executed, in atomic context.
    fn pre(&self, regs: &PtRegs);
}

/// A registered kprobe on a kernel symbol.
///
/// # Invariants
///
/// `kp` is registered with the kprobes core from its initialisation until `drop()`.
#[pin_data(PinnedDrop)]
pub struct Kprobe<T: KprobeHandler> {
    #[pin]
    kp: Opaque<bindings::kprobe>,
    handler: T,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The kprobe is only touched by the kprobes core, which serialises its own accesses, and
// `handler` is `Send + Sync`.
unsafe impl<T: KprobeHandler> Send for Kprobe<T> {}

// SAFETY: `&Kprobe` only gives access to `handler`, which is `Sync`, and to `nmissed()`, a plain
// read.
unsafe impl<T: KprobeHandler> Sync for Kprobe<T> {}

impl<T: KprobeHandler> Kprobe<T> {
    /// Creates and registers a kprobe at the entry of `symbol`.
    ///
    /// Fails with the error of `register_kprobe()`, e.g. `ENOENT` if there is no such symbol or
    /// `EINVAL` if it cannot be probed.
    pub fn new(symbol: &'static CStr, handler: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            handler,
            _pin: PhantomPinned,
            // Last: the probe can fire as soon as it is registered.
            kp <- Self::register(symbol),
        }? Error)
    }

    fn register(symbol: &'static CStr) -> impl PinInit<Opaque<bindings::kprobe>, Error> {
        let init = move |slot: *mut Opaque<bindings::kprobe>| {
            let kp = Opaque::raw_get(slot);
            // SAFETY: `kp` is valid for writes and pinned. An all-zero `struct kprobe` is the
            // state the C API expects before the caller fills in what it needs. `slot` is the
            // `kp` field of a `Kprobe<T>` whose `handler` is already initialised, so the handler
            // can run as soon as the probe is registered. On failure, the kprobes core keeps no
            // reference to `kp`.
            unsafe {
                kp.write(core::mem::zeroed());
                (*kp).symbol_name = symbol.as_char_ptr();
                (*kp).pre_handler = Some(Self::pre_handler);
                to_result(bindings::register_kprobe(kp))
            }
        };
        // SAFETY: `init` initialises all of `slot` on success and leaves nothing registered that
        // points to it on failure.
        unsafe { pin_init_from_closure(init) }
    }

    /// Returns how many times the probe was hit but its handler not called, e.g. because
    /// another probe was being handled on that CPU.
    pub fn nmissed(&self) -> u64 {
        // SAFETY: `kp` is initialised; the kprobes core updates `nmissed` without a lock, so a
        // racy read of an aligned word is all anyone can do.
        unsafe { core::ptr::read_volatile(&(*self.kp.get()).nmissed) as u64 }
    }

    /// The C `pre_handler` of every `Kprobe<T>`.
    ///
    /// # Safety
    ///
    /// `kp` must be the `kp` field of a registered `Kprobe<T>`, and `regs` must be valid for the
    /// duration of the call, as the kprobes core guarantees.
    unsafe extern "C" fn pre_handler(
        kp: *mut bindings::kprobe,
        regs: *mut bindings::pt_regs,
    ) -> c_int {
        // SAFETY: The kprobes core only calls this handler for a registered kprobe, i.e. for the
        // `kp` field of a live, pinned `Kprobe<T>` (type invariant), so `container_of!` gives a
        // valid pointer to it.
        let this = unsafe { &*crate::container_of!(kp, Self, kp) };
        // SAFETY: `regs` is valid for the duration of the handler call.
        this.handler.pre(unsafe { PtRegs::from_raw(regs) });
        0
    }
}

#[pinned_drop]
impl<T: KprobeHandler> PinnedDrop for Kprobe<T> {
    fn drop(self: core::pin::Pin<&mut Self>) {
        // SAFETY: `kp` is registered (type invariant). `unregister_kprobe()` waits for running
        // handlers to return, so nothing refers to `self` once it returns.
        unsafe { bindings::unregister_kprobe(self.kp.get()) };
    }
}

/// What a [`Kretprobe`] does when its function is entered and when it returns.
pub trait KretprobeHandler: Send + Sync {
    /// Called on entry to the function, in atomic context.
    fn entry(&self, _regs: &PtRegs) {}

    /// Called when the function returns, in atomic context.
    fn ret(&self, regs: &PtRegs);
}

/// A registered kretprobe on a kernel function.
///
/// # Invariants
///
/// `rp` is registered with the kprobes core from its initialisation until `drop()`.
#[pin_data(PinnedDrop)]
pub struct Kretprobe<T: KretprobeHandler> {
    #[pin]
    rp: Opaque<bindings::kretprobe>,
    handler: T,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: As for `Kprobe`.
unsafe impl<T: KretprobeHandler> Send for Kretprobe<T> {}

// SAFETY: As for `Kprobe`.
unsafe impl<T: KretprobeHandler> Sync for Kretprobe<T> {}

impl<T: KretprobeHandler> Kretprobe<T> {
    /// Creates and registers a kretprobe on the function `symbol`.
    ///
    /// `maxactive` is how many calls of the function may be in flight at once, across CPUs, and
    /// still have their return caught; 0 picks the kernel's default.
    pub fn new(symbol: &'static CStr, maxactive: u32, handler: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            handler,
            _pin: PhantomPinned,
            // Last: the probe can fire as soon as it is registered.
            rp <- Self::register(symbol, maxactive),
        }? Error)
    }

    fn register(
        symbol: &'static CStr,
        maxactive: u32,
    ) -> impl PinInit<Opaque<bindings::kretprobe>, Error> {
        let init = move |slot: *mut Opaque<bindings::kretprobe>| {
            let rp = Opaque::raw_get(slot);
            // SAFETY: As in `Kprobe::register()`.
            unsafe {
                rp.write(core::mem::zeroed());
                (*rp).kp.symbol_name = symbol.as_char_ptr();
                (*rp).handler = Some(Self::ret_handler);
                (*rp).entry_handler = Some(Self::entry_handler);
                (*rp).maxactive = maxactive.try_into().unwrap_or(c_int::MAX);
                to_result(bindings::register_kretprobe(rp))
            }
        };
        // SAFETY: As in `Kprobe::register()`.
        unsafe { pin_init_from_closure(init) }
    }

    /// Returns how many returns were missed, because `maxactive` calls were in flight or the
    /// entry probe itself was missed.
    pub fn nmissed(&self) -> u64 {
        // SAFETY: As in `Kprobe::nmissed()`.
        let (rp, kp) = unsafe {
            (
                core::ptr::read_volatile(&(*self.rp.get()).nmissed),
                core::ptr::read_volatile(&(*self.rp.get()).kp.nmissed),
            )
        };
        rp as u64 + kp as u64
    }

    /// # Safety
    ///
    /// `ri` must be an instance of a registered `Kretprobe<T>`.
    unsafe fn from_instance<'a>(ri: *mut bindings::kretprobe_instance) -> &'a Self {
        // SAFETY: The caller guarantees that `ri` belongs to a registered kretprobe, which is
        // the `rp` field of a live, pinned `Kretprobe<T>` (type invariant).
        unsafe {
            let rp = bindings::get_kretprobe(ri);
            &*crate::container_of!(rp, Self, rp)
        }
    }

    /// The C `entry_handler` of every `Kretprobe<T>`.
    ///
    /// # Safety
    ///
    /// `ri` must be an instance of a registered `Kretprobe<T>`, and `regs` must be valid for the
    /// duration of the call, as the kprobes core guarantees.
    unsafe extern "C" fn entry_handler(
        ri: *mut bindings::kretprobe_instance,
        regs: *mut bindings::pt_regs,
    ) -> c_int {
        // SAFETY: The kprobes core only calls this handler for an instance of this kretprobe
        // while it is registered, with `regs` valid for the duration of the call.
        let (this, regs) = unsafe { (Self::from_instance(ri), PtRegs::from_raw(regs)) };
        this.handler.entry(regs);
        0
    }

    /// The C `handler` of every `Kretprobe<T>`.
    ///
    /// # Safety
    ///
    /// As for `entry_handler()`.
    unsafe extern "C" fn ret_handler(
        ri: *mut bindings::kretprobe_instance,
        regs: *mut bindings::pt_regs,
    ) -> c_int {
        // SAFETY: As in `entry_handler()`.
        let (this, regs) = unsafe { (Self::from_instance(ri), PtRegs::from_raw(regs)) };
        this.handler.ret(regs);
        0
    }
}

#[pinned_drop]
impl<T: KretprobeHandler> PinnedDrop for Kretprobe<T> {
    fn drop(self: core::pin::Pin<&mut Self>) {
        // SAFETY: `rp` is registered (type invariant). `unregister_kretprobe()` waits for running
        // handlers, and returns that are still pending no longer call them afterwards.
        unsafe { bindings::unregister_kretprobe(self.rp.get()) };
    }
}
