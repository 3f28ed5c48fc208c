// SPDX-License-Identifier: GPL-2.0

//! The figures file, `/sys/kernel/debug/scx_loopguard/figures`, on `kernel::debugfs`: one
//! read/write file backed by an `Arc<Figures>`.
//!
//! Reading it formats the figures; writing runs a command (`Figures::command()`). The file's
//! operations have this module as their owner, so the module cannot be unloaded while the file
//! is open. This needs `kernel::debugfs` with the fix of scx-loopguard (`Dir<M>`), which the
//! `Kbuild` file detects; without it, `debugfs.rs` is used.

use crate::{Figures, LocalModule, COMMAND_MAX};
use core::fmt;
use kernel::{
    c_str,
    debugfs::{Dir, File},
    prelude::*,
    sync::Arc,
    uaccess::UserSliceReader,
    ThisModule,
};

/// The directory and its file: dropping it removes the file, waits for the file operations in
/// progress, and then drops the file's reference to the figures.
pub(crate) struct FiguresFile {
    _file: Pin<KBox<File<Arc<Figures>>>>,
    _dir: Dir<LocalModule>,
}

impl FiguresFile {
    pub(crate) fn new(figures: Arc<Figures>, _module: &'static ThisModule) -> Result<Self> {
        let dir = Dir::<LocalModule>::new(c_str!("scx_loopguard"));
        let file = KBox::pin_init(
            dir.read_write_callback_file(c_str!("figures"), figures, &show, &command),
            GFP_KERNEL,
        )?;
        Ok(Self {
            _file: file,
            _dir: dir,
        })
    }
}

fn show(figures: &Arc<Figures>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    figures.write(f)
}

fn command(figures: &Arc<Figures>, reader: &mut UserSliceReader) -> Result {
    let mut cmd = [0u8; COMMAND_MAX];
    let n = reader.len();
    let cmd = cmd.get_mut(..n).ok_or(EINVAL)?;
    reader.read_slice(cmd)?;
    figures.command(cmd.strip_suffix(b"\n").unwrap_or(cmd))
}
