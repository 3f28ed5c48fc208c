#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make boots: the round trip of a guest that runs one short command, the way
# every test guest boots (FAST_BOOT=1: no udev coldplug, no tmpfiles, see
# tools/guest/guest-root/) against the guest root as Debian ships it
# (FAST_BOOT=0: udevd with all its rules, systemd-tmpfiles), alternating,
# BOOTS=N times each (default 3) on the patched kernel of BASE. Results in
# $OUT/boots/.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools
B=$OUT/boots
N=${BOOTS:-3}
rm -rf "$B"
mkdir -p "$B"
for ((i = 1; i <= N; i++)); do
	for fast in 1 0; do
		name=boot-fast$fast-$i
		t0=$(date +%s%N)
		FAST_BOOT=$fast "$T/guest/vm.sh" run "$name" patched -c "${CPUS:-2}" -t "$TO_SUITE" -- \
			sh -c 'echo stdout-ok; echo stderr-ok >&2; exit 3' || true
		# The exit status and both streams must come back.
		ok=$("$T/lib/ktap.py" roundtrip "$OUT/logs/$name.outcome" "$OUT/logs/$name.log" 3 stdout-ok stderr-ok) ||
			ok=no
		printf '%s\t%s\t%s\t%s\n' "$fast" "$i" "$(tenths $(($(date +%s%N) - t0)))" "$ok" >>"$B/rounds.txt"
		"$T/lib/ktap.py" outcome "$OUT/logs/$name.outcome" boot_guest boot_host >>"$B/start.txt"
	done
done
paste "$B/rounds.txt" "$B/start.txt" | awk -F'\t' '
	BEGIN { print "# fast_boot\tround\tround_trip_s\tstatus_and_streams_kept\tcommand_at_uptime_s\tcommand_at_host_s" }
	{ print }' >"$B/boots.txt"
awk -F'\t' '!/^#/ { n[$1]++; s[$1] += $3; g[$1] += $5; if ($4 != "yes") bad[$1]++ }
	END {
		for (f = 1; f >= 0; f--) if (n[f])
			printf "  BOOTS   %s: round trip %.1f s, command at %.1f s of guest uptime (mean of %d)%s\n",
				f ? "FAST_BOOT=1 (the tests)" : "FAST_BOOT=0 (udev, tmpfiles)", s[f] / n[f], g[f] / n[f], n[f],
				bad[f] ? ", " bad[f] " lost the exit status or a stream" : ", exit status and both streams kept"
	}' "$B/boots.txt" >&2
! grep -q $'\tno\t' "$B/boots.txt"
