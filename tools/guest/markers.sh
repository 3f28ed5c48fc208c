# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # the names are the sourcing scripts'
# The lines a guest prints for the host that watches it, defined here only:
# sourced by guest.sh (in the guest) and by lib.sh (on the host). Sourcing
# it only sets these names.
#
# guest.sh prints GUEST_START when its command starts, GUEST_ALIVE and the
# uptime every HEARTBEAT_SECS from then on (the host's watches, guest() in
# lib.sh, allow several times that), and GUEST_DONE when the command ends. vm.sh
# has the guest print BOOT_MARK and its uptime just before the command.
GUEST_START='LOOPGUARD-GUEST start'
GUEST_DONE='LOOPGUARD-GUEST done'
GUEST_ALIVE='LOOPGUARD-ALIVE'
BOOT_MARK='LOOPGUARD-BOOT uptime='
HEARTBEAT_SECS=2
# The arm64 guest's init (tools/arm64/init.c, which is C and says it
# itself) prints this when it is done.
ARM64_DONE='LOOPGUARD-ARM64 done'
