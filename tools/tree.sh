#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare the kernel tree the harness works on: $WORK/linux, a git repo whose
# branch lg/base is the user's 6.12.y tree (KDIR=...) or, by default, Debian's
# linux-source-6.12, as one commit. The user's own checkout is never written:
# a git tree is cloned with --shared, any other tree is copied.
#
#   tree.sh            prepare $WORK/linux (idempotent)
#   tree.sh check DIR  only check that DIR is a clean 6.12.y tree
. "$(dirname "$0")/lib.sh"

LINUX=$WORK/linux

# kver DIR: "6.12.117" from the top Makefile, or nothing.
kver() {
	awk -F' *= *' '$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		$1 == "SUBLEVEL" { s = $2 } END { if (v != "") print v "." p "." s }' \
		"$1/Makefile" 2>/dev/null
}

# check_tree DIR: refuse anything but a clean Linux 6.12.y tree.
check_tree() {
	local dir=$1 v
	[[ -d $dir ]] || die "KDIR=$dir: no such directory"
	[[ -f $dir/Makefile && -f $dir/kernel/sched/ext.c ]] ||
		die "KDIR=$dir: not a Linux tree with sched_ext (no Makefile or kernel/sched/ext.c)"
	v=$(kver "$dir")
	[[ $v == 6.12.* ]] || die "KDIR=$dir: Linux $v, but the series is for 6.12.y"
	if git -C "$dir" rev-parse --git-dir >/dev/null 2>&1; then
		if [[ -n $(git -C "$dir" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
			die "KDIR=$dir: the tree has uncommitted changes; commit or stash them first"
		fi
	fi
	echo "$v"
}

# Debian's source package, unpacked into $1.
debian_source() {
	local dest=$1 dl=$WORK/dl deb tarball
	mkdir -p "$dl"
	deb=$(ls "$dl"/linux-source-6.12_*.deb 2>/dev/null | tail -n1)
	if [[ -z $deb ]]; then
		step FETCH "downloading Debian linux-source-6.12" \
			in_chroot bash -c "cd '$dl' && apt-get download -qq linux-source-6.12" ||
			die "could not download linux-source-6.12 from the chroot's apt sources"
		deb=$(ls "$dl"/linux-source-6.12_*.deb | tail -n1)
	fi
	rm -rf "$dl/x"
	run dpkg-deb -x "$deb" "$dl/x"
	tarball=$(ls "$dl"/x/usr/src/linux-source-6.12.tar.*)
	mkdir -p "$dest"
	step UNPACK "$(basename "$deb")" tar -xaf "$tarball" -C "$dest" --strip-components=1
	rm -rf "$dl/x"
	basename "$deb" .deb
}

git_lg() {
	run git -C "$LINUX" -c user.name=scx-loopguard -c user.email=scx-loopguard@localhost \
		-c advice.detachedHead=false "$@"
}

prepare() {
	local origin v
	if [[ -n ${KDIR:-} ]]; then
		KDIR=$(cd "$KDIR" 2>/dev/null && pwd) || die "KDIR: no such directory"
		v=$(check_tree "$KDIR") || exit
		if git -C "$KDIR" rev-parse --git-dir >/dev/null 2>&1; then
			origin="kdir:$KDIR@$(git -C "$KDIR" rev-parse HEAD)"
		else
			origin="kdir:$KDIR (copy)"
		fi
	else
		origin="debian:linux-source-6.12"
	fi

	if [[ -f $LINUX/.git/lg-origin && $(cat "$LINUX/.git/lg-origin") == "$origin" ]] &&
		git -C "$LINUX" rev-parse -q --verify lg/base >/dev/null; then
		msg TREE "$LINUX: Linux $(kver "$LINUX") from ${origin%%@*}"
		return
	fi

	rm -rf "$LINUX"
	if [[ $origin == kdir:*@* ]]; then
		step CLONE "$KDIR (shared, read-only for the source)" \
			git clone -q --shared --no-checkout "$KDIR" "$LINUX"
		git_lg checkout -q -b lg/base "$(git -C "$KDIR" rev-parse HEAD)"
	else
		if [[ -n ${KDIR:-} ]]; then
			mkdir -p "$LINUX"
			step COPY "$KDIR" rsync -a --exclude=.git "$KDIR/" "$LINUX/"
			desc="Linux $v from $KDIR"
		else
			desc="Debian $(debian_source "$LINUX")"
		fi
		git_lg init -q -b lg/base
		step COMMIT "base commit" git_lg add -A -f .
		git_lg commit -q -m "scx-loopguard base: $desc" --no-verify
	fi
	echo "$origin" >"$LINUX/.git/lg-origin"
	msg TREE "$LINUX: Linux $(kver "$LINUX") from ${origin%%@*}, base $(git -C "$LINUX" rev-parse --short lg/base)"
}

# Re-creating the tree must not happen under a running build: hold the lock.
case ${1:-prepare} in
prepare) with_lock prepare ;;
check) check_tree "$2" ;;
*) die "usage: tree.sh [prepare | check DIR]" ;;
esac
