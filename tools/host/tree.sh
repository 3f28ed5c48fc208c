#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare the kernel tree the harness works on for BASE (6.12 or 7.3):
# $LINUX, a git repo whose branch lg/base is the user's BASE.y tree
# (KDIR=...) or, by default, Debian's linux-source-BASE, as one commit. The
# user's own checkout is never written: a git tree is cloned with --shared,
# any other tree is copied.
#
#   tree.sh            prepare $LINUX (idempotent)
#   tree.sh check DIR  only check that DIR is a clean BASE.y tree
. "$(dirname "$0")/../lib/lib.sh"
lg_env


# The file that holds the sched_ext core in a tree of this base.
case $BASE in
6.12) EXT_C=kernel/sched/ext.c ;;
*) EXT_C=kernel/sched/ext/ext.c ;;
esac

# check_tree DIR: refuse anything but a clean Linux BASE.y tree.
check_tree() {
	local dir=$1 v
	[[ -d $dir ]] || die "KDIR=$dir: no such directory"
	[[ -f $dir/Makefile && -f $dir/$EXT_C ]] ||
		die "KDIR=$dir: not a Linux $BASE tree with sched_ext (no Makefile or $EXT_C)"
	v=$(kver "$dir")
	if [[ $v != "$BASE".* ]]; then
		# A newer mainline tree (sched_ext's for-next, say) is a target for
		# 'make apply' and 'make series', never for the tests.
		if [[ ${LG_ALLOW_NEWER:-} == 1 && $BASE == 7.3 ]] && newer "$v" 7.3; then
			msg WARN "KDIR=$dir: Linux $v is newer than 7.3.y; the 7.3 series is untested there"
		else
			die "KDIR=$dir: Linux $v, but the series is for $BASE.y (BASE=$BASE)"
		fi
	fi
	if git -C "$dir" rev-parse --git-dir >/dev/null 2>&1; then
		if [[ -n $(git -C "$dir" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
			die "KDIR=$dir: the tree has uncommitted changes; commit or stash them first"
		fi
	fi
	echo "$v"
}

# download_backports PKG DIR: apt-get download PKG from trixie-backports,
# through a one-off sources list and package lists of its own: the chroot's
# apt sources stay trixie only, so nothing from backports (a newer rustc)
# can ever be installed into the kernel's toolchain.
download_backports() {
	local pkg=$1 dir=$2 mirror apt=$WORK/apt-backports
	mirror=${MIRROR:-$(apt_mirror)} || exit
	mkdir -p "$apt/lists/partial"
	printf 'deb %s trixie-backports main\n' "$mirror" >"$apt/sources.list"
	in_chroot bash -c "cd '$dir' && o='-o APT::Sandbox::User=root -o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists=$apt/lists' &&
		apt-get \$o update -qq && apt-get \$o download -qq $pkg"
}

# Debian's source package, unpacked into $1.
debian_source() {
	local dest=$1 dl=$WORK/dl deb tarball pkg=linux-source-$BASE
	mkdir -p "$dl"
	deb=$(ls "$dl"/"$pkg"_*.deb 2>/dev/null | tail -n1)
	if [[ -z $deb ]]; then
		if [[ $BASE == 6.12 ]]; then
			step FETCH "downloading Debian $pkg" \
				in_chroot bash -c "cd '$dl' && apt-get download -qq $pkg" ||
				die "could not download $pkg from the chroot's apt sources"
		else
			step FETCH "downloading Debian $pkg from trixie-backports" \
				download_backports "$pkg" "$dl" ||
				die "could not download $pkg from trixie-backports: Debian has no $BASE.y there now (give a $BASE.y tree with KDIR=)"
		fi
		deb=$(ls "$dl"/"$pkg"_*.deb 2>/dev/null | tail -n1)
		[[ -n $deb ]] || die "the download of $pkg gave no package"
		msg FETCH "$(basename "$deb")"
	fi
	rm -rf "$dl/x"
	run dpkg-deb -x "$deb" "$dl/x"
	tarball=$(ls "$dl"/x/usr/src/"$pkg".tar.*)
	mkdir -p "$dest"
	step UNPACK "$(basename "$deb")" tar -xaf "$tarball" -C "$dest" --strip-components=1
	rm -rf "$dl/x"
	basename "$deb" .deb
}

prepare() {
	local origin v base orig
	if [[ -n ${KDIR:-} ]]; then
		KDIR=$(cd "$KDIR" 2>/dev/null && pwd) || die "KDIR: no such directory"
		v=$(check_tree "$KDIR") || exit
		if git -C "$KDIR" rev-parse --git-dir >/dev/null 2>&1; then
			origin="kdir:$KDIR@$(git -C "$KDIR" rev-parse HEAD)"
			base=$(git -C "$KDIR" rev-parse HEAD)
			# A tree 'make apply' put the series on: its base is where
			# apply found it, and the series must give back its HEAD
			# (tools/build/series.sh checks).
			if orig=$(git -C "$KDIR" rev-parse -q --verify refs/scx-loopguard/orig-head) &&
				[[ $orig != "$base" ]]; then
				msg TREE "KDIR=$KDIR carries the series ('make apply'): its base is $(git -C "$KDIR" rev-parse --short "$orig"), where apply found it"
				base=$orig
				origin+=" from $orig"
			fi
		else
			origin="kdir:$KDIR (copy)"
		fi
	else
		origin="debian:linux-source-$BASE"
	fi

	if [[ -f $LINUX/.git/lg-origin && $(cat "$LINUX/.git/lg-origin") == "$origin" ]] &&
		git -C "$LINUX" rev-parse -q --verify lg/base >/dev/null; then
		msg TREE "$LINUX: Linux $(kver "$LINUX") from ${origin%%@*}"
		return
	fi

	rm -rf "$LINUX"
	if [[ $origin == kdir:*@* ]]; then
		step CLONE "$KDIR (shared, read-only for the source)" \
			git -c init.defaultBranch=lg/kdir clone -q --shared --no-checkout "$KDIR" "$LINUX"
		git_lg checkout -q -B lg/base "$base"
		rm -f "$LINUX/.git/lg-applied-head"
		[[ $base == "$(git -C "$KDIR" rev-parse HEAD)" ]] ||
			git -C "$KDIR" rev-parse HEAD >"$LINUX/.git/lg-applied-head"
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
check) check_tree "${2:-}" ;;
*) die "usage: tree.sh [prepare | check DIR]" ;;
esac
