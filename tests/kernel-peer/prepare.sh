#!/usr/bin/env bash
# Prepares the qemu "kernel peer": a stock Debian kernel (which ships
# net/l2tp, PPP and 8021q as modules, unlike the CI host kernel) plus a
# busybox/bash initramfs holding the userspace needed to drive it.
#
# Idempotent: when the cache is already built from this very script and
# guest init, it returns in well under a second without touching apt.
#
# Environment:
#   L2TP_KPEER_CACHE       cache dir (default: $REPO/.cache/kernel-peer)
#   L2TP_KPEER_KERNEL_PKG  kernel package to use (default: what
#                          linux-image-amd64 depends on)
#   L2TP_KPEER_FORCE=1     rebuild the initramfs even if up to date
#
# Outputs in the cache dir: vmlinuz, initramfs.cpio, kernel-version,
# stamp, modules.txt (modules packed into the guest, in load order).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${L2TP_KPEER_CACHE:-$REPO/.cache/kernel-peer}
GUEST_INIT=$HERE/guest-init.sh

log() { printf 'kernel-peer/prepare: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$CACHE"
# Parallel test binaries may all call prepare at once: serialise them.
exec 9>"$CACHE/.lock"
flock 9

script_hash() {
    cat "${BASH_SOURCE[0]}" "$GUEST_INIT" | sha256sum | cut -d' ' -f1
}

cached_deb() {
    local d
    for d in "$CACHE"/deb/linux-image-*.deb; do
        [[ -f $d ]] && { printf '%s\n' "$d"; return 0; }
    done
    return 1
}

# Fast path: everything built by this exact script from the cached .deb.
if [[ ${L2TP_KPEER_FORCE:-0} != 1 ]] && deb=$(cached_deb) \
    && [[ -f $CACHE/vmlinuz && -f $CACHE/initramfs.cpio && -f $CACHE/stamp ]] \
    && [[ $(cat "$CACHE/stamp") == "$(script_hash) $(basename "$deb")" ]]; then
    exit 0
fi

# ---------------------------------------------------------------- host tools
APT_UPDATED=0
apt_install() {
    [[ $# -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install $*"
    log "installing $*"
    if [[ $APT_UPDATED -eq 0 ]]; then
        apt-get update -qq >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

is_static() { ! ldd "$1" >/dev/null 2>&1; }

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
if ! command -v busybox >/dev/null || ! is_static "$(command -v busybox)"; then
    missing+=(busybox-static)
fi
command -v modinfo >/dev/null || missing+=(kmod)
command -v dpkg-deb >/dev/null || missing+=(dpkg)
[[ -x /usr/bin/ip || -x /usr/sbin/ip || -x /sbin/ip ]] || missing+=(iproute2)
command -v iperf3 >/dev/null || missing+=(iperf3)
[[ -x /usr/bin/ping || -x /bin/ping ]] || missing+=(iputils-ping)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v flock >/dev/null || missing+=(util-linux)
apt_install "${missing[@]}"

# ------------------------------------------------------------ kernel package
if ! deb=$(cached_deb); then
    pkg=${L2TP_KPEER_KERNEL_PKG:-}
    resolve() {
        apt-cache depends linux-image-amd64 2>/dev/null \
            | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ && $2 !~ /cloud|rt-/ { print $2; exit }'
    }
    if [[ -z $pkg ]]; then
        pkg=$(resolve || true)
        if [[ -z $pkg ]]; then
            apt-get update -qq >&2
            APT_UPDATED=1
            pkg=$(resolve || true)
        fi
    fi
    [[ -n $pkg ]] || die "cannot resolve the kernel package behind linux-image-amd64"
    log "downloading $pkg"
    mkdir -p "$CACHE/deb.tmp"
    # apt-get download drops privileges to _apt unless told otherwise; the
    # cache dir may not be readable by that user.
    (cd "$CACHE/deb.tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    mkdir -p "$CACHE/deb"
    mv "$CACHE"/deb.tmp/linux-image-*.deb "$CACHE/deb/"
    rmdir "$CACHE/deb.tmp"
    deb=$(cached_deb) || die "download of $pkg produced no .deb"
fi
log "using $(basename "$deb")"

# ------------------------------------------------------------------- extract
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
KROOT=$WORK/kernel
STAGE=$WORK/stage
mkdir -p "$KROOT" "$STAGE"
dpkg-deb -x "$deb" "$KROOT"
kdirs=("$KROOT"/lib/modules/*)
[[ ${#kdirs[@]} -eq 1 && -d ${kdirs[0]} ]] || die "expected one module tree in $(basename "$deb")"
KVER=$(basename "${kdirs[0]}")
KMOD=$KROOT/lib/modules/$KVER
[[ -f $KROOT/boot/vmlinuz-$KVER ]] || die "no vmlinuz-$KVER in $(basename "$deb")"

# ------------------------------------------------------------------- modules
# Modules the tests use directly; their dependencies are added below.
WANTED=(
    virtio_pci virtio_net
    udp_tunnel ip6_udp_tunnel
    l2tp_core l2tp_netlink l2tp_eth l2tp_ip l2tp_ip6 l2tp_ppp
    pppox ppp_generic ppp_async ppp_synctty ppp_deflate bsd_comp
    8021q bridge veth dummy sch_netem
)

# name (with '-' folded to '_') -> path relative to $KMOD
declare -A MODPATH=()
while IFS= read -r -d '' ko; do
    rel=${ko#"$KMOD"/}
    name=$(basename "$ko")
    name=${name%%.ko*}
    MODPATH[${name//-/_}]=$rel
done < <(find "$KMOD/kernel" -name '*.ko*' -print0)

declare -A BUILTIN=()
if [[ -f $KMOD/modules.builtin ]]; then
    while IFS= read -r b; do
        name=$(basename "$b")
        name=${name%%.ko*}
        BUILTIN[${name//-/_}]=1
    done < "$KMOD/modules.builtin"
fi

# Depth-first post-order over modinfo's depends= gives a valid load order.
declare -A STATE=()
ORDER=()
visit() {
    local m=${1//-/_} dep deps
    [[ -n ${BUILTIN[$m]:-} ]] && return 0
    case ${STATE[$m]:-} in
        "done") return 0 ;;
        active) die "module dependency cycle at $m" ;;
    esac
    [[ -n ${MODPATH[$m]:-} ]] || die "module $m not found in $KVER"
    STATE[$m]=active
    deps=$(modinfo -F depends "$KMOD/${MODPATH[$m]}")
    for dep in ${deps//,/ }; do
        visit "$dep"
    done
    STATE[$m]="done"
    ORDER+=("$m")
}
for m in "${WANTED[@]}"; do
    visit "$m"
done

# ------------------------------------------------------------------ rootfs
# Merged-/usr layout, like the host, so ELF interpreter paths resolve.
mkdir -p "$STAGE"/usr/{bin,sbin,lib,lib64} "$STAGE"/{dev,proc,sys,tmp,run,root,etc,var,mnt}
ln -s usr/bin "$STAGE/bin"
ln -s usr/sbin "$STAGE/sbin"
ln -s usr/lib "$STAGE/lib"
ln -s usr/lib64 "$STAGE/lib64"
ln -s ../run "$STAGE/var/run"
mkdir -p "$STAGE"/var/{log,lib,tmp} "$STAGE"/etc/ppp "$STAGE"/etc/xl2tpd
chmod 1777 "$STAGE/tmp" "$STAGE/var/tmp"

# Path inside the stage for a host path (everything lives under /usr).
stage_path() {
    case $1 in
        /usr/*) printf '%s%s\n' "$STAGE" "$1" ;;
        *) printf '%s/usr%s\n' "$STAGE" "$1" ;;
    esac
}

declare -A COPIED=()
copy_file() {
    local src=$1 dst
    [[ -n ${COPIED[$src]:-} ]] && return 0
    COPIED[$src]=1
    dst=$(stage_path "$src")
    mkdir -p "$(dirname "$dst")"
    cp -L "$src" "$dst"
}

# Copies an ELF file and every shared library ldd resolves for it.
copy_elf() {
    local f=$1 lib
    copy_file "$f"
    while IFS= read -r lib; do
        [[ -n $lib ]] && copy_file "$lib"
    done < <(ldd "$f" 2>/dev/null | awk '
        $2 == "=>" && $3 ~ /^\// { print $3; next }
        $1 ~ /^\// { print $1 }')
}

first_of() {
    local p
    for p in "$@"; do
        [[ -x $p ]] && { printf '%s\n' "$p"; return 0; }
    done
    return 1
}

# The one busybox binary must be static: no loader or libc for it.
BB=$(command -v busybox)
is_static "$BB" || die "$BB is not static (install busybox-static)"
cp "$BB" "$STAGE/usr/bin/busybox"

# Real tools. iproute2's ip must win over busybox's applet of the same
# name, so real binaries are installed first and busybox fills the gaps.
REQUIRED_BINS=(bash ip iperf3 ping)
OPTIONAL_BINS=(tc bridge ss tcpdump ethtool xl2tpd xl2tpd-control pppd)
for b in "${REQUIRED_BINS[@]}" "${OPTIONAL_BINS[@]}"; do
    if p=$(first_of "/usr/sbin/$b" "/usr/bin/$b" "/sbin/$b" "/bin/$b"); then
        # Keep the host's directory (bin or sbin) so scripts find it.
        copy_elf "$p"
    else
        for r in "${REQUIRED_BINS[@]}"; do
            [[ $r == "$b" ]] && die "required host binary $b not found"
        done
        log "note: $b not on the host; guest will not have it"
    fi
done
# pppd loads its L2TP support (pppol2tp.so) with dlopen, so ldd misses it.
for plugdir in /usr/lib/pppd/*/; do
    [[ -d $plugdir ]] || continue
    for so in "$plugdir"*.so; do
        [[ -f $so ]] && copy_elf "$so"
    done
done
ln -sf bash "$STAGE/usr/bin/sh"

# busybox applets for everything else (mount, insmod, stty, ...).
while IFS= read -r applet; do
    dst=$(stage_path "/$applet")
    name=$(basename "$applet")
    # An applet must not shadow a real tool in either bin directory.
    [[ -e $dst || -L $dst ]] && continue
    [[ -e $STAGE/usr/bin/$name || -e $STAGE/usr/sbin/$name ]] && continue
    mkdir -p "$(dirname "$dst")"
    ln -s /usr/bin/busybox "$dst"
done < <("$BB" --list-full)

# Kernel modules, kept at their tree paths so the guest's modprobe works.
# Newer Debian kernels ship compressed modules; busybox insmod wants them
# plain, so they are unpacked here.
for m in "${ORDER[@]}"; do
    case ${MODPATH[$m]} in
        *.ko.xz) command -v xz >/dev/null || apt_install xz-utils ;;
        *.ko.zst) command -v zstd >/dev/null || apt_install zstd ;;
    esac
done
for m in "${ORDER[@]}"; do
    src=$KMOD/${MODPATH[$m]}
    dst=$STAGE/usr/lib/modules/$KVER/${MODPATH[$m]}
    mkdir -p "$(dirname "$dst")"
    case $src in
        *.ko.xz) xz -dc "$src" > "${dst%.xz}" ;;
        *.ko.zst) zstd -qdc "$src" > "${dst%.zst}" ;;
        *.ko.gz) gzip -dc "$src" > "${dst%.gz}" ;;
        *) cp "$src" "$dst" ;;
    esac
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
    [[ -f $KMOD/$f ]] && cp "$KMOD/$f" "$STAGE/usr/lib/modules/$KVER/"
done
depmod -b "$STAGE" "$KVER" 2>/dev/null || log "note: depmod failed; guest modprobe unavailable"
mkdir -p "$STAGE/etc/kpeer"
: > "$STAGE/etc/kpeer/modules.load"
for m in "${ORDER[@]}"; do
    rel=${MODPATH[$m]}
    rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
    printf '%s\n' "$rel" >> "$STAGE/etc/kpeer/modules.load"
done
printf '%s\n' "$KVER" > "$STAGE/etc/kpeer/kernel-version"

# Minimal /etc so glibc tools, pppd and xl2tpd behave.
cat > "$STAGE/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$STAGE/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat > "$STAGE/etc/hosts" <<'EOF'
127.0.0.1 localhost kpeer
::1 localhost
EOF
printf 'kpeer\n' > "$STAGE/etc/hostname"
for f in /etc/protocols /etc/services /etc/ethertypes; do
    [[ -f $f ]] && cp "$f" "$STAGE$f"
done
[[ -d /etc/iproute2 ]] && cp -r /etc/iproute2 "$STAGE/etc/"
[[ -d /usr/share/iproute2 ]] && { mkdir -p "$STAGE/usr/share"; cp -r /usr/share/iproute2 "$STAGE/usr/share/"; }
printf 'export PATH=/usr/sbin:/usr/bin\nPS1="kpeer# "\n' > "$STAGE/root/.bashrc"

install -m 0755 "$GUEST_INIT" "$STAGE/init"

# ------------------------------------------------------------------ archive
# Uncompressed: under TCG, decompressing a gzip initramfs costs more boot
# time than qemu spends loading the larger file.
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | "$BB" cpio -o -H newc 2>/dev/null) \
    > "$WORK/initramfs.cpio"
cp "$KROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$KROOT/boot/config-$KVER" "$WORK/config"
printf '%s\n' "${ORDER[@]}" > "$WORK/modules.txt"
printf '%s\n' "$KVER" > "$WORK/kernel-version"
for f in vmlinuz config initramfs.cpio modules.txt kernel-version; do
    mv -f "$WORK/$f" "$CACHE/$f"
done
printf '%s %s\n' "$(script_hash)" "$(basename "$deb")" > "$CACHE/stamp"
log "ready: kernel $KVER, $(wc -l < "$CACHE/modules.txt") modules, initramfs $(du -h "$CACHE/initramfs.cpio" | cut -f1)"
