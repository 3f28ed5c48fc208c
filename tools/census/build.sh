#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The production schedulers of tools/census/schedulers.txt, each built once
# with 'cargo install --locked' in the census's root ($CACHE/census-root,
# made by tools/host/toolchain.sh with LG_ROOT=census) and kept in
# $CACHE/census/NAME-VERSION/ with its build log and build time. Then copied
# to $WORK/census/bin/, where the guests find them. Only 'make census'
# builds them, never 'make test'.
#
#   build.sh [NAME...]      (default: every scheduler of the list)
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools
CROOT=$CACHE/census-root
DEST=$CACHE/census
# Where the host's CA bundle goes in the root: cargo in a chroot does not
# trust the chain this machine's own tools trust.
CA=/usr/local/share/scx-loopguard-host-ca.crt

# build NAME VERSION: cargo install into the root's /opt/census (one target
# directory for all, so that the crates they share are built once).
build() {
	local name=$1 ver=$2 d=$DEST/$1-$2 t0
	if [[ -x $d/bin/$name ]]; then
		msg CENSUS "$name $ver is built (it took $(cat "$d/build-time"))"
		return
	fi
	mkdir -p "$DEST"
	t0=$(date +%s)
	CHROOT=$CROOT step CENSUS "cargo install --locked $name $ver (minutes: a Rust and BPF build)" \
		logto "$DEST/$name-$ver.log" with_lock in_chroot env CARGO_HOME=/opt/cargo \
		CARGO_TARGET_DIR=/opt/census-target CARGO_HTTP_CAINFO=$CA SSL_CERT_FILE=$CA \
		CARGO_BUILD_JOBS="$(nproc)" \
		cargo install --locked --version "=$ver" --root "/opt/census/$name-$ver" "$name" ||
		{
			tail -n 20 "$DEST/$name-$ver.log" >&2
			msg CENSUS "$name $ver did not build (log: $DEST/$name-$ver.log)"
			return 1
		}
	rm -rf "$d"
	mkdir -p "$d/bin"
	cp "$CROOT/opt/census/$name-$ver/bin/$name" "$d/bin/"
	elapsed "$t0" >"$d/build-time"
	msg CENSUS "$name $ver built in $(cat "$d/build-time")"
}

main() {
	local name ver failed=() list
	list=$(census_list "$@") || exit
	LG_ROOT=census "$T/host/toolchain.sh" || die "the census's root could not be made"
	cp /etc/ssl/certs/ca-certificates.crt "$CROOT$CA" 2>/dev/null ||
		die "no CA bundle at /etc/ssl/certs/ca-certificates.crt on the host (cargo needs it)"
	while read -r name ver; do
		build "$name" "$ver" || failed+=("$name")
		if [[ -x $DEST/$name-$ver/bin/$name ]]; then
			mkdir -p "$WORK/census/bin"
			cp "$DEST/$name-$ver/bin/$name" "$WORK/census/bin/"
		fi
	done <<<"$list"
	((${#failed[@]} == 0)) || msg CENSUS "not built: ${failed[*]} (each is reported as such by the census)"
	return 0
}

main "$@"
