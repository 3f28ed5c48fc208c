// SPDX-License-Identifier: GPL-2.0

//! Kernel probes: kprobes and kretprobes.
//!
//! A [`Kprobe`] calls its handler whenever a CPU reaches the start of a kernel function. A
//! [`Kretprobe`] calls one handler when a kernel function is entered and another when it returns.
//!
//! Both are registered when they are initialised and unregistered when they are dropped. They
//! must stay pinned in between, as the kprobes core keeps pointers to them.
//!
//! # Context
//!
//! Handlers run on whichever CPU hit the probe, in atomic context: preemption is disabled, and
//! interrupts may be disabled too, since a probed function may be called with them off. A handler
//! must not sleep, must not take locks that the probed function may hold, and should be short.
//! A handler that is hit again while it runs on the same CPU, for example through a function it
//! calls, is not called: the hit is counted as missed instead.
//!
//! Dropping a probe may sleep: it unregisters the probe and waits until handlers running on other
//! CPUs have returned.
//!
//! # Examples
//!
//! Count the calls of `__msecs_to_jiffies()`, two of which are made here:
//!
//! ```
//! use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
//! use kernel::{
//!     c_str,
//!     kprobes::{Kprobe, KprobeHandler, PtRegs},
//!     prelude::*,
//!     time::msecs_to_jiffies,
//! };
//!
//! struct Calls(AtomicU64);
//!
//! impl KprobeHandler for Calls {
//!     fn pre(&self, _regs: &PtRegs) {
//!         self.0.fetch_add(1, Relaxed);
//!     }
//! }
//!
//! let probe = KBox::pin_init(
//!     Kprobe::new(c_str!("__msecs_to_jiffies"), Calls(AtomicU64::new(0))),
//!     GFP_KERNEL,
//! )?;
//! msecs_to_jiffies(10);
//! msecs_to_jiffies(20);
//! // Other CPUs may call it too.
//! assert!(probe.handler().0.load(Relaxed) >= 2);
//! # Ok::<(), Error>(())
//! ```
//!
//! C header: [`include/linux/kprobes.h`](srctree/include/linux/kprobes.h)
//!
//! Reference: <https://docs.kernel.org/trace/kprobes.html>

use crate::{
    bindings,
    error::to_result,
    init::{pin_init_from_closure, PinInit},
    prelude::*,
    str::CStr,
    try_pin_init,
    types::Opaque,
};
use core::{ffi::c_int, marker::PhantomPinned};

/// The register state of the CPU that hit a probe.
///
/// # Invariants
///
/// `self.0` is a valid `struct pt_regs` for the lifetime of `&self`.
#[repr(transparent)]
pub struct PtRegs(Opaque<bindings::pt_regs>);

impl PtRegs {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct pt_regs` for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::pt_regs) -> &'a Self {
        // SAFETY: `PtRegs` is a transparent wrapper of `Opaque<pt_regs>`, which allows the core to
        // change the registers while the reference lives, and the caller guarantees that `ptr`
        // is valid for `'a`.
        // INVARIANT: `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Returns a raw pointer to the `struct pt_regs`, for architecture-specific access.
    ///
    /// Changing the instruction pointer through it is not supported: the handlers always tell the
    /// kprobes core to carry on with the probed instruction.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::pt_regs {
        self.0.get()
    }

    /// Returns the `n`th argument, counted from 0, of the function whose entry was probed.
    ///
    /// This follows the architecture's calling convention, so it only makes sense at the entry of
    /// a function, i.e. in [`KprobeHandler::pre`] or [`KretprobeHandler::entry`], and for
    /// arguments that fit in a register. What is returned for arguments past those passed in
    /// registers depends on the architecture (x86_64 reads the stack, others return 0).
    ///
    /// The whole register is returned: for an argument narrower than a register, such as an
    /// `int`, the upper bits are unspecified, so cast the value to the argument's type.
    ///
    /// # Examples
    ///
    /// Count only the calls that convert 4242 milliseconds:
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
    /// use kernel::{
    ///     c_str,
    ///     kprobes::{Kprobe, KprobeHandler, PtRegs},
    ///     prelude::*,
    ///     time::msecs_to_jiffies,
    /// };
    ///
    /// struct Calls(AtomicU64);
    ///
    /// impl KprobeHandler for Calls {
    ///     fn pre(&self, regs: &PtRegs) {
    ///         // The argument is an `unsigned int`.
    ///         if regs.arg(0) as u32 == 4242 {
    ///             self.0.fetch_add(1, Relaxed);
    ///         }
    ///     }
    /// }
    ///
    /// let probe = KBox::pin_init(
    ///     Kprobe::new(c_str!("__msecs_to_jiffies"), Calls(AtomicU64::new(0))),
    ///     GFP_KERNEL,
    /// )?;
    /// msecs_to_jiffies(4242);
    /// msecs_to_jiffies(1);
    /// msecs_to_jiffies(4242);
    /// // Other CPUs may convert 4242 ms too.
    /// assert!(probe.handler().0.load(Relaxed) >= 2);
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(CONFIG_HAVE_FUNCTION_ARG_ACCESS_API)]
    #[inline]
    pub fn arg(&self, n: u32) -> usize {
        // SAFETY: By the type invariant, `self.0` is a valid `struct pt_regs`.
        unsafe { bindings::regs_get_kernel_argument(self.as_raw(), n) }
    }

    /// Returns the value the probed function returned, in [`KretprobeHandler::ret`].
    ///
    /// As for [`Self::arg`], cast it to the function's return type.
    #[cfg(CONFIG_KRETPROBES)]
    #[inline]
    pub fn return_value(&self) -> usize {
        // SAFETY: By the type invariant, `self.0` is a valid `struct pt_regs`.
        unsafe { bindings::regs_return_value(self.as_raw()) }
    }
}

/// What a [`Kprobe`] does when it is hit.
///
/// The handler may run on several CPUs at once, hence `Sync`. It is `'static` because a probe
/// that is leaked stays registered, and its handler called, forever.
pub trait KprobeHandler: Sync + 'static {
    /// Called before the probed instruction is executed, in atomic context (see the
    /// [module documentation](self)).
    fn pre(&self, regs: &PtRegs);
}

/// An initialiser of an `Opaque<T>` that runs the fallible `init` on its raw pointer, which is
/// what 7.3's `Opaque::try_ffi_init()` does.
fn ffi_init<T>(init: impl FnOnce(*mut T) -> Result) -> impl PinInit<Opaque<T>, Error> {
    let init = move |slot: *mut Opaque<T>| init(Opaque::raw_get(slot));
    // SAFETY: `Opaque<T>` may hold an uninitialised `T`, so whatever `init` leaves in it is a
    // valid `Opaque<T>`, on success and on failure alike.
    unsafe { pin_init_from_closure(init) }
}

/// A kprobe on the entry of a kernel function.
///
/// # Invariants
///
/// Once initialised, `kp` is registered with the kprobes core, with `pre_handler` set to
/// [`Self::pre_handler`] and `handler` initialised, until [`PinnedDrop::drop`] unregisters it.
/// The kprobes core calls `pre_handler` only until `PinnedDrop::drop` returns.
#[pin_data(PinnedDrop)]
pub struct Kprobe<T: KprobeHandler> {
    #[pin]
    handler: T,
    #[pin]
    kp: Opaque<bindings::kprobe>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: Dropping the probe, which unregisters it, may happen on any thread that can sleep, as
// `unregister_kprobe()` allows; `handler` moves with it only if it is `Send`.
unsafe impl<T: KprobeHandler + Send> Send for Kprobe<T> {}

// SAFETY: `&Kprobe` only gives out `&T`, which is `Sync`; `kp` is only used by the kprobes core,
// which synchronises its own accesses.
unsafe impl<T: KprobeHandler> Sync for Kprobe<T> {}

impl<T: KprobeHandler> Kprobe<T> {
    /// Initialises `handler`, then registers a kprobe on the entry of the function `symbol`.
    ///
    /// Fails with the error of `register_kprobe()`: for example `ENOENT` if there is no such
    /// symbol, or `EINVAL` if it cannot be probed.
    pub fn new(
        symbol: &'static CStr,
        handler: impl PinInit<T, Error>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            handler <- handler,
            // After `handler`: the probe can be hit as soon as it is registered.
            kp <- ffi_init(move |kp: *mut bindings::kprobe| {
                // SAFETY: `kp` is valid for writes. An all-zero `struct kprobe` is what
                // `register_kprobe()` expects besides the fields set here.
                unsafe {
                    kp.write_bytes(0, 1);
                    (*kp).symbol_name = symbol.as_char_ptr();
                    (*kp).pre_handler = Some(Self::pre_handler);
                }
                // SAFETY: `kp` is a filled-in `struct kprobe`, pinned: it stays where it is until
                // `PinnedDrop::drop` unregisters it. `handler` is already initialised, so
                // `pre_handler()` may run as soon as the probe is live. If registering fails, the
                // core keeps no pointer to `kp`.
                // INVARIANT: on success, `kp` is registered with `pre_handler` and `handler` set.
                to_result(unsafe { bindings::register_kprobe(kp) })
            }),
            _pin: PhantomPinned,
        }? Error)
    }

    /// Returns the handler.
    #[inline]
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// The `pre_handler` of every `Kprobe<T>`.
    ///
    /// # Safety
    ///
    /// `kp` must be the `kp` field of a `Kprobe<T>` whose `PinnedDrop::drop` has not returned, and
    /// `regs` must be valid for the duration of the call.
    unsafe extern "C" fn pre_handler(
        kp: *mut bindings::kprobe,
        regs: *mut bindings::pt_regs,
    ) -> c_int {
        // SAFETY: By the caller's guarantee, `kp` is the `kp` field of a `Kprobe<T>` that is
        // pinned and alive until its `PinnedDrop::drop` returns.
        let this = unsafe { &*crate::container_of!(kp, Self, kp) };
        // SAFETY: The caller guarantees that `regs` is valid during the call.
        this.handler.pre(unsafe { PtRegs::from_raw(regs) });
        0
    }
}

#[pinned_drop]
impl<T: KprobeHandler> PinnedDrop for Kprobe<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `kp` is registered (type invariant). `unregister_kprobe()` returns only once no
        // handler is running any more, so nothing refers to `self` afterwards.
        unsafe { bindings::unregister_kprobe(self.kp.get()) };
    }
}

#[cfg(CONFIG_KRETPROBES)]
pub use kret::{Kretprobe, KretprobeHandler};

/// Kretprobes, in a module of their own so that one `cfg` covers them: 6.12's `#[pinned_drop]`
/// takes no other attribute.
#[cfg(CONFIG_KRETPROBES)]
mod kret {
    use super::*;

    /// What a [`Kretprobe`] does when its function is entered and when it returns.
    ///
    /// `Sync` and `'static` for the reasons given at [`KprobeHandler`].
    #[vtable]
    pub trait KretprobeHandler: Sync + 'static {
        /// What [`entry`](Self::entry) hands to [`ret`](Self::ret) for the same call of the
        /// function.
        ///
        /// It is kept in the kprobes core's record of that call, so it costs no allocation. It
        /// must be `Copy`, as it is not dropped when the return is not caught (see
        /// [`ret`](Self::ret)), and at most 4096 bytes (`KRETPROBE_MAX_DATA_SIZE`), which is
        /// checked when building. When [`entry`](Self::entry) is not implemented, nothing is
        /// kept, and [`ret`](Self::ret) gets `Data::default()`.
        type Data: Copy + Default;

        /// Called on entry to the function, in atomic context (see the [module
        /// documentation](self)).
        ///
        /// Returns what [`ret`](Self::ret) gets for this call, or `None` to let this call
        /// return without calling it. Optional: when it is not implemented, nothing runs on
        /// entry.
        fn entry(&self, _regs: &PtRegs) -> Option<Self::Data> {
            crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
        }

        /// Called when the function returns, in atomic context, with what
        /// [`entry`](Self::entry) returned for this call.
        ///
        /// A return may not be caught: when more calls are in flight than the probe's `maxactive`,
        /// when the probe is unregistered before the function returns, or when it never returns.
        fn ret(&self, regs: &PtRegs, data: Self::Data);
    }

    /// A kretprobe on a kernel function.
    ///
    /// # Examples
    ///
    /// Count the returns of `__msecs_to_jiffies()` that give the value expected for 4242 ms:
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
    /// use kernel::{
    ///     c_str,
    ///     kprobes::{Kretprobe, KretprobeHandler, PtRegs},
    ///     prelude::*,
    ///     time::msecs_to_jiffies,
    /// };
    ///
    /// struct Returns {
    ///     value: usize,
    ///     seen: AtomicU64,
    /// }
    ///
    /// #[vtable]
    /// impl KretprobeHandler for Returns {
    ///     type Data = ();
    ///
    ///     fn ret(&self, regs: &PtRegs, _data: ()) {
    ///         if regs.return_value() == self.value {
    ///             self.seen.fetch_add(1, Relaxed);
    ///         }
    ///     }
    /// }
    ///
    /// let value = msecs_to_jiffies(4242);
    /// let probe = KBox::pin_init(
    ///     Kretprobe::new(
    ///         c_str!("__msecs_to_jiffies"),
    ///         0,
    ///         Returns {
    ///             value,
    ///             seen: AtomicU64::new(0),
    ///         },
    ///     ),
    ///     GFP_KERNEL,
    /// )?;
    /// assert_eq!(msecs_to_jiffies(4242), value);
    /// assert_eq!(msecs_to_jiffies(4242), value);
    /// assert!(probe.handler().seen.load(Relaxed) >= 2);
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Invariants
    ///
    /// Once initialised, `rp` is registered with the kprobes core, with `handler` initialised,
    /// until [`PinnedDrop::drop`] unregisters it. Its `handler` is [`Self::ret_handler`], its
    /// `entry_handler` is [`Self::entry_handler`] if `T` implements
    /// [`KretprobeHandler::entry`] and NULL otherwise, and its `data_size` is the size of a
    /// `T::Data`. The kprobes core calls the handlers only until `PinnedDrop::drop` returns.
    #[pin_data(PinnedDrop)]
    pub struct Kretprobe<T: KretprobeHandler> {
        #[pin]
        handler: T,
        #[pin]
        rp: Opaque<bindings::kretprobe>,
        #[pin]
        _pin: PhantomPinned,
    }

    // SAFETY: Dropping the probe, which unregisters it, may happen on any thread that can sleep, as
    // `unregister_kretprobe()` allows; `handler` moves with it only if it is `Send`.
    unsafe impl<T: KretprobeHandler + Send> Send for Kretprobe<T> {}

    // SAFETY: `&Kretprobe` only gives out `&T`, which is `Sync`; `rp` is only used by the kprobes
    // core, which synchronises its own accesses.
    unsafe impl<T: KretprobeHandler> Sync for Kretprobe<T> {}

    impl<T: KretprobeHandler> Kretprobe<T> {
        /// Initialises `handler`, then registers a kretprobe on the function `symbol`.
        ///
        /// `maxactive` is how many calls of the function may be in flight at once, across CPUs, and
        /// still have their return caught; 0 picks the kernel's default. Fails with `EINVAL` if it
        /// is above `c_int::MAX`, else with the error of `register_kretprobe()`.
        pub fn new(
            symbol: &'static CStr,
            maxactive: u32,
            handler: impl PinInit<T, Error>,
        ) -> impl PinInit<Self, Error> {
            try_pin_init!(Self {
                handler <- handler,
                // After `handler`: the probe can be hit as soon as it is registered.
                rp <- ffi_init(move |rp: *mut bindings::kretprobe| {
                    let maxactive = c_int::try_from(maxactive).map_err(|_| EINVAL)?;
                    // SAFETY: `rp` is valid for writes. An all-zero `struct kretprobe` is what
                    // `register_kretprobe()` expects besides the fields set here.
                    unsafe {
                        rp.write_bytes(0, 1);
                        (*rp).kp.symbol_name = symbol.as_char_ptr();
                        (*rp).entry_handler = Self::ENTRY_HANDLER;
                        (*rp).handler = Some(Self::ret_handler);
                        (*rp).maxactive = maxactive;
                        (*rp).data_size = Self::DATA_SIZE;
                    }
                    // SAFETY: `rp` is a filled-in `struct kretprobe`, pinned: it stays where it is
                    // until `PinnedDrop::drop` unregisters it. `handler` is already initialised, so
                    // the handlers may run as soon as the probe is live. If registering fails, the
                    // core keeps no pointer to `rp` that it dereferences.
                    // INVARIANT: on success, `rp` is registered with the handlers, `data_size` for
                    // a `T::Data`, and `handler` set.
                    to_result(unsafe { bindings::register_kretprobe(rp) })
                }),
                _pin: PhantomPinned,
            }? Error)
        }

        /// Returns the handler.
        #[inline]
        pub fn handler(&self) -> &T {
            &self.handler
        }

        /// The `entry_handler`: none unless `T` implements [`KretprobeHandler::entry`].
        const ENTRY_HANDLER: bindings::kretprobe_handler_t = if T::HAS_ENTRY {
            Some(Self::entry_handler)
        } else {
            None
        };

        /// The size of each call's data, `ri->data`: one `T::Data` if `entry()` is implemented,
        /// else none. Its size is checked against the core's limit when building; it may be less
        /// aligned than a `T::Data`, which is read and written unaligned.
        const DATA_SIZE: usize = {
            assert!(core::mem::size_of::<T::Data>() <= bindings::KRETPROBE_MAX_DATA_SIZE as usize);
            if T::HAS_ENTRY {
                core::mem::size_of::<T::Data>()
            } else {
                0
            }
        };

        /// Returns the `Kretprobe<T>` that `ri` is an instance of, or `None` if the core no longer
        /// says.
        ///
        /// # Safety
        ///
        /// `ri` must be an instance of a `Kretprobe<T>`, passed to one of its handlers by the
        /// kprobes core, and this must be called within that handler.
        unsafe fn from_instance<'a>(ri: *mut bindings::kretprobe_instance) -> Option<&'a Self> {
            // SAFETY: `ri` is a valid instance, as the caller guarantees.
            let rp = unsafe { bindings::get_kretprobe(ri) };
            // Without `CONFIG_KRETPROBE_ON_RETHOOK`, unregistering sets the instance's kretprobe to
            // NULL while handlers may still run; `container_of!` must not be applied to it.
            if rp.is_null() {
                return None;
            }
            // SAFETY: `rp` is the `rp` field of a `Kretprobe<T>`, by the caller's guarantee.
            // Handlers run with preemption disabled, and `unregister_kretprobe()`, which
            // `PinnedDrop::drop` calls, waits for an RCU grace period after it has stopped new
            // calls, so the `Kretprobe<T>` stays alive for the rest of this handler (type
            // invariant).
            Some(unsafe { &*crate::container_of!(rp, Self, rp) })
        }

        /// The `entry_handler` of every `Kretprobe<T>`.
        ///
        /// # Safety
        ///
        /// `ri` must be an instance of a `Kretprobe<T>`, and `regs` must be valid for the duration
        /// of the call.
        unsafe extern "C" fn entry_handler(
            ri: *mut bindings::kretprobe_instance,
            regs: *mut bindings::pt_regs,
        ) -> c_int {
            // SAFETY: The kprobes core calls this handler with an instance of this kretprobe.
            let Some(this) = (unsafe { Self::from_instance(ri) }) else {
                // The probe is going away: do not catch this call's return.
                return 1;
            };
            // SAFETY: The caller guarantees that `regs` is valid during the call.
            match this.handler.entry(unsafe { PtRegs::from_raw(regs) }) {
                Some(data) => {
                    // SAFETY: `ri->data` is `data_size` bytes of this instance, one `T::Data` as
                    // `entry()` is implemented, and only this call uses it.
                    unsafe {
                        core::ptr::addr_of_mut!((*ri).data)
                            .cast::<T::Data>()
                            .write_unaligned(data)
                    };
                    0
                }
                // Do not catch this call's return.
                None => 1,
            }
        }

        /// The `handler` of every `Kretprobe<T>`.
        ///
        /// # Safety
        ///
        /// As for [`Self::entry_handler`].
        unsafe extern "C" fn ret_handler(
            ri: *mut bindings::kretprobe_instance,
            regs: *mut bindings::pt_regs,
        ) -> c_int {
            // SAFETY: The kprobes core calls this handler with an instance of this kretprobe.
            if let Some(this) = unsafe { Self::from_instance(ri) } {
                let data = if T::HAS_ENTRY {
                    // SAFETY: `entry_handler` returned 0 for this instance, as its return is
                    // being caught, after it had written a `T::Data` into `ri->data`.
                    unsafe {
                        core::ptr::addr_of_mut!((*ri).data)
                            .cast::<T::Data>()
                            .read_unaligned()
                    }
                } else {
                    T::Data::default()
                };
                // SAFETY: The caller guarantees that `regs` is valid during the call.
                this.handler.ret(unsafe { PtRegs::from_raw(regs) }, data);
            }
            0
        }
    }

    #[pinned_drop]
    impl<T: KretprobeHandler> PinnedDrop for Kretprobe<T> {
        fn drop(self: Pin<&mut Self>) {
            // SAFETY: `rp` is registered (type invariant). `unregister_kretprobe()` returns only
            // once no handler is running any more, and returns still pending then no longer call
            // them.
            unsafe { bindings::unregister_kretprobe(self.rp.get()) };
        }
    }
}
