#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Make sure the toolchain exists: a Debian trixie chroot under $CACHE with
# everything needed to build 6.12 with Rust, the BPF selftests and to boot
# guests with virtme-ng. Re-created when missing or incomplete.
#
# TOOLCHAIN=host skips the chroot and checks the host's own tools instead.
#
# LG_ROOT=census makes the census's root instead ($CACHE/census-root, with
# tools/census/packages.txt): production schedulers need a newer Rust than
# the kernel's, and trixie's rustc-web replaces the rustc the kernel builds
# with, so they are built in a root of their own.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

SUITE=${SUITE:-trixie}
PKG_LIST=$LG_TOP/tools/host/packages.txt
if [[ ${LG_ROOT:-toolchain} == census ]]; then
	CHROOT=$CACHE/census-root
	PKG_LIST=$LG_TOP/tools/census/packages.txt
	TOOLCHAIN=chroot
fi
PKGS=$(sed -e 's/#.*//' "$PKG_LIST" | xargs)
APT_LOG=$CACHE/apt${LG_ROOT:+-$LG_ROOT}.log
DB_LOG=$CACHE/debootstrap${LG_ROOT:+-$LG_ROOT}.log
STAMP=$CHROOT/.scx-loopguard-stamp
want_stamp=$(printf '%s\n%s\n' "$SUITE" "$PKGS" | sha256sum | cut -c1-16)

check_host() {
	local missing=() t
	for t in make clang ld.lld rustc bindgen pahole bpftool vng qemu-system-x86_64 git; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	((${#missing[@]} == 0)) ||
		die "TOOLCHAIN=host, but the host lacks: ${missing[*]} (drop TOOLCHAIN=host to use the chroot)"
	msg TOOLS "host toolchain: $(rustc --version), $(clang --version | head -n1)"
}

if [[ ${TOOLCHAIN:-chroot} == host ]]; then
	check_host
	exit 0
fi

# The guest runs vng's shell virtme-init from the chroot, which powers the
# guest off with "poweroff -f" when the command is done. A minbase chroot has
# no poweroff: init would exit and every run would end in a kernel panic.
# virtme-init's PATH has /usr/local/bin but not /usr/local/sbin.
fixups() {
	[[ ${LG_ROOT:-toolchain} == census ]] && return
	[[ -L $CHROOT/usr/local/bin/poweroff ]] ||
		ln -sf /bin/busybox "$CHROOT/usr/local/bin/poweroff"
	rm -f "$CHROOT/usr/local/sbin/poweroff"
}

# guest_vng: the virtme-ng of tools/host/virtme-ng.txt in $CHROOT/opt, with a vng
# wrapper there. Without pip, or if the download fails, the guests boot
# with Debian's vng instead (slower), which vm.sh says.
VNG_REQ=$LG_TOP/tools/host/virtme-ng.txt
guest_vng() {
	local dest=$CHROOT$GUEST_VNG_DIR dl
	[[ ${LG_ROOT:-toolchain} == census || -x $dest/vng ]] && return
	if ! python3 -m pip --version >/dev/null 2>&1; then
		msg TOOLS "no pip on the host: guests boot with Debian's virtme-ng (slower)"
		return
	fi
	dl=$(mktemp -d)
	if ! step TOOLS "virtme-ng $VNG_VER for the guests (PyPI, hash-checked)" logto "$CACHE/pip.log" \
		python3 -m pip download --no-deps --only-binary=:all: --require-hashes -r "$VNG_REQ" -d "$dl"; then
		rm -rf "$dl"
		msg TOOLS "could not fetch virtme-ng $VNG_VER (see $CACHE/pip.log): guests boot with Debian's (slower)"
		return
	fi
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp"
	python3 -m zipfile -e "$dl"/virtme_ng-"$VNG_VER"-*.whl "$dest.tmp" || die "cannot unpack the virtme-ng wheel"
	rm -rf "$dl"
	# zip files keep no modes
	chmod +x "$dest.tmp/virtme/guest/bin/"* "$dest.tmp/virtme/guest/virtme-init"
	printf '#!/bin/sh\nPYTHONPATH=%s exec python3 -c %s "$@"\n' "$GUEST_VNG_DIR" \
		"'import sys; from virtme_ng.run import main; sys.exit(main())'" >"$dest.tmp/vng"
	chmod +x "$dest.tmp/vng"
	mv "$dest.tmp" "$dest"
}

# install_packages: the package list into $CHROOT, logged to $APT_LOG.
install_packages() {
	logto "$APT_LOG" in_chroot bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $PKGS"
}

if [[ -f $STAMP && $(cat "$STAMP") == "$want_stamp" ]]; then
	fixups
	guest_vng
	msg TOOLS "$CHROOT is up to date"
	exit 0
fi

need_root
mirror=${MIRROR:-$(apt_mirror)}

# A complete chroot whose package list changed: install what is new.
if [[ -f $STAMP ]] && [[ $(sed -n 1p "$CHROOT/.scx-loopguard-suite" 2>/dev/null) == "$SUITE" ]]; then
	if step APT "updating the chroot's packages" install_packages; then
		fixups
		guest_vng
		echo "$want_stamp" >"$STAMP"
		exit 0
	fi
	msg TOOLS "update failed (see $APT_LOG), re-creating the chroot"
fi

mkdir -p "$CACHE"
if ! command -v debootstrap >/dev/null; then
	step APT "installing debootstrap on the host" \
		logto "$CACHE/host-apt.log" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap' ||
		die "could not install debootstrap from the host's apt sources"
fi

# Fail early and plainly when the mirror cannot be reached.
if command -v curl >/dev/null &&
	! curl -sfI --max-time 30 "$mirror/dists/$SUITE/Release" >/dev/null; then
	die "the Debian mirror from this machine's apt sources ($mirror) does not answer for '$SUITE'; check the network or set MIRROR=URL"
fi

mkdir -p "$CACHE"
tmp=$CHROOT.new
rm -rf "$tmp"
step CHROOT "debootstrap $SUITE (minbase)" logto "$DB_LOG" \
	debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" ||
	die "debootstrap failed, see $DB_LOG"

printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$tmp/etc/apt/sources.list"
# Keep the chroot from starting services while packages install.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod +x "$tmp/usr/sbin/policy-rc.d"

CHROOT=$tmp step APT "installing $(wc -w <<<"$PKGS") packages into the chroot" install_packages ||
	die "package install into the chroot failed, see $APT_LOG"

rm -rf "$CHROOT"
mv "$tmp" "$CHROOT"
fixups
guest_vng
echo "$SUITE" >"$CHROOT/.scx-loopguard-suite"
echo "$want_stamp" >"$STAMP"
msg TOOLS "$CHROOT ready: $(in_chroot rustc --version), $(in_chroot clang --version | head -n1)"
