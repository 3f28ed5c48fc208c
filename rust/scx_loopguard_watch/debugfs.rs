// SPDX-License-Identifier: GPL-2.0

//! The figures file, `/sys/kernel/debug/scx_loopguard/figures`: a small safe layer over debugfs
//! and seq_file for one read/write file backed by an `Arc<Figures>`, for kernels whose
//! `kernel::debugfs` is missing (6.12) or gives its files no owner (7.3 without the fix of
//! scx-loopguard; see `figures_file.rs`).
//!
//! Reading it formats the figures with `single_open()`, so each read(2) sequence from offset 0
//! sees one consistent text. Writing `reset` zeroes them, and `reset max_loops=N` also sets the
//! bound that invocations are held to; `trace_stop` arms the trace stop at the next break-out;
//! anything else is `EINVAL`.

use crate::{Figures, COMMAND_MAX};
use core::fmt;
use kernel::{
    bindings, c_str,
    error::from_err_ptr,
    ffi::{c_char, c_int, c_void},
    prelude::*,
    sync::Arc,
    ThisModule,
};

/// The debugfs directory and file; removing the directory removes the file and waits for the
/// file operations in progress, after which the figures are no longer referenced through it.
///
/// # Invariants
///
/// `dir` is a valid debugfs dentry, and the file in it has `figures` as its private data, which
/// holds one reference to the `Figures` until `drop()` has removed the file. `fops` is the file's
/// operations table; its `owner` is this module, so an open file holds a reference to the module
/// and the module cannot be unloaded before the file is closed.
pub(crate) struct FiguresFile {
    dir: *mut bindings::dentry,
    figures: *const Figures,
    _fops: KBox<Fops>,
}

// SAFETY: The dentry is only used to remove it, which any thread may do, and `figures` is an
// `Arc<Figures>` reference, which is `Send + Sync`.
unsafe impl Send for FiguresFile {}

// SAFETY: `&FiguresFile` gives access to nothing.
unsafe impl Sync for FiguresFile {}

impl FiguresFile {
    pub(crate) fn new(figures: Arc<Figures>, module: &'static ThisModule) -> Result<Self> {
        // The owner makes the VFS take a module reference for as long as the file is open.
        // Without it, a file held open across an unload would call into freed module text.
        let fops = KBox::new(
            Fops(bindings::file_operations {
                owner: module.as_ptr(),
                open: Some(open),
                read: Some(bindings::seq_read),
                write: Some(write),
                llseek: Some(bindings::seq_lseek),
                release: Some(bindings::single_release),
                // SAFETY: All-zero is a valid `file_operations`: no other operations.
                ..unsafe { core::mem::zeroed() }
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The name is a NUL-terminated string; a NULL parent is the debugfs root.
        let dir = from_err_ptr(unsafe {
            bindings::debugfs_create_dir(
                c_str!("scx_loopguard").as_char_ptr(),
                core::ptr::null_mut(),
            )
        })?;
        let figures = Arc::into_raw(figures);
        // SAFETY: `dir` is a valid dentry; `fops` and `figures` stay valid until `drop()` has
        // removed the file.
        let file = from_err_ptr(unsafe {
            create_file(
                c_str!("figures").as_char_ptr(),
                0o600,
                dir,
                figures.cast_mut().cast::<c_void>(),
                &fops.0,
            )
        });
        let this = Self {
            dir,
            figures,
            _fops: fops,
        };
        file?;
        Ok(this)
    }
}

impl Drop for FiguresFile {
    fn drop(&mut self) {
        // SAFETY: `dir` is valid (type invariant). Once this returns, no file operation is in
        // progress or can start, so nothing uses `figures` through the file any more.
        unsafe { bindings::debugfs_remove(self.dir) };
        // SAFETY: `figures` came from `Arc::into_raw()` in `new()` and is released exactly once.
        drop(unsafe { Arc::from_raw(self.figures) });
    }
}

/// `debugfs_create_file()`: a C function on 6.12, a C macro over `debugfs_create_file_full()` on
/// 7.3 (see `Kbuild`).
///
/// # Safety
///
/// As for the C function: `name` is a NUL-terminated string, `parent` a valid dentry or NULL,
/// and `fops` valid for as long as the file exists.
unsafe fn create_file(
    name: *const c_char,
    mode: u16,
    parent: *mut bindings::dentry,
    data: *mut c_void,
    fops: *const bindings::file_operations,
) -> *mut bindings::dentry {
    #[cfg(debugfs_create_file_full)]
    // SAFETY: The caller's guarantees; no auxiliary data, as the C macro passes.
    return unsafe {
        bindings::debugfs_create_file_full(name, mode, parent, data, core::ptr::null(), fops)
    };
    #[cfg(not(debugfs_create_file_full))]
    // SAFETY: The caller's guarantees.
    return unsafe { bindings::debugfs_create_file(name, mode, parent, data, fops) };
}

/// `file_operations` holds raw pointers, which are neither `Send` nor `Sync`.
struct Fops(bindings::file_operations);

// SAFETY: The table is never written to after `FiguresFile::new()`, and the functions and the
// module it points to may be used from any thread.
unsafe impl Send for Fops {}

// SAFETY: As for `Send`: shared references only read the table.
unsafe impl Sync for Fops {}

/// The figures of a file opened with `single_open()`.
///
/// # Safety
///
/// `m` must be the `seq_file` of a figures file that is open.
unsafe fn figures_of<'a>(m: *mut bindings::seq_file) -> &'a Figures {
    // SAFETY: `single_open()` set `private` to the inode's private data, a live `Figures`
    // (type invariant of `FiguresFile`, which outlives every file operation).
    unsafe { &*(*m).private.cast::<Figures>() }
}

/// `fmt::Write` into a `seq_file`. On overflow, `seq_read()` calls `show()` again with a larger
/// buffer, so errors can be ignored here.
struct SeqWriter(*mut bindings::seq_file);

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.0` is the `seq_file` passed to `show()`, valid during the call; `s` is
        // valid for reads of `s.len()` bytes.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast::<c_void>(), s.len()) };
        Ok(())
    }
}

/// `seq_file` show callback.
///
/// # Safety
///
/// `m` must be the `seq_file` of an open figures file.
unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: Called by `seq_read()` on a figures file that is open.
    let figures = unsafe { figures_of(m) };
    let _ = figures.write(&mut SeqWriter(m));
    0
}

/// `open` of the figures file.
///
/// # Safety
///
/// `inode` and `file` must be valid, and `inode` must be the figures file's.
unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: The VFS passes a valid inode and file; the inode's private data is the `Figures`
    // pointer given to `debugfs_create_file()`.
    unsafe { bindings::single_open(file, Some(show), (*inode).i_private) }
}

/// `write` of the figures file.
///
/// # Safety
///
/// `file` must be the figures file opened by `open()`, and `buf` a user pointer.
unsafe extern "C" fn write(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    _pos: *mut bindings::loff_t,
) -> isize {
    let mut cmd = [0u8; COMMAND_MAX];
    let n = count.min(cmd.len());
    // SAFETY: `cmd` is valid for `n` bytes; `copy_from_user()` checks the user pointer.
    if unsafe { bindings::copy_from_user(cmd.as_mut_ptr().cast(), buf.cast(), n) } != 0 {
        return EFAULT.to_errno() as isize;
    }
    let cmd = &cmd[..n];
    if count > n {
        return EINVAL.to_errno() as isize;
    }
    // SAFETY: `single_open()` made the `seq_file` the file's private data.
    let figures = unsafe { figures_of((*file).private_data.cast()) };
    match figures.command(cmd.strip_suffix(b"\n").unwrap_or(cmd)) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}
