#!/usr/bin/env bash
# Boots the kernel-peer guest by hand (the Rust harness in
# tests/integration/src/kernel_peer.rs is what tests use).
#
#   vm.sh [options]            interactive: guest console on this terminal
#                              (bash prompt; Ctrl-A X quits qemu)
#   vm.sh [options] -c 'CMD'   run CMD in the guest, print its output, power
#                              off, exit with CMD's status
#
# Options:
#   -n NETNS   run qemu inside this existing namespace (default: a fresh
#              namespace kpvm-<pid>, deleted on exit)
#   -t TAP     host TAP name for guest eth0 (default: kpvm0); an existing
#              persistent TAP is reused, otherwise qemu creates it
#   -e TAP     extra TAP for eth1, eth2, ... (repeatable)
#   -a CIDR    host address to put on TAP (e.g. 198.18.0.1/24)
#   -m MIB     guest memory (default 512)
#   -k ARGS    extra kernel command line
#   -l FILE    console log file in -c mode (default: a temp file)
#
# The guest has bash, iproute2 (ip, tc, bridge, ss), iperf3, ping, tcpdump,
# pppd and xl2tpd when the host has them, busybox for the rest, and the
# l2tp_*, ppp, 8021q, bridge, veth, dummy and netem modules loaded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${L2TP_KPEER_CACHE:-$REPO/.cache/kernel-peer}

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

NETNS="" TAP=kpvm0 EXTRA=() ADDR="" MEM=512 KARGS="" CMD="" LOG="" HAVE_CMD=0
while getopts "n:t:e:a:m:k:c:l:h" opt; do
    case $opt in
        n) NETNS=$OPTARG ;;
        t) TAP=$OPTARG ;;
        e) EXTRA+=("$OPTARG") ;;
        a) ADDR=$OPTARG ;;
        m) MEM=$OPTARG ;;
        k) KARGS=$OPTARG ;;
        c) CMD=$OPTARG; HAVE_CMD=1 ;;
        l) LOG=$OPTARG ;;
        h) usage 0 ;;
        *) usage 2 ;;
    esac
done

"$HERE/prepare.sh"

OWN_NS=0
if [[ -z $NETNS ]]; then
    NETNS=kpvm-$$
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    OWN_NS=1
fi
TMP=$(mktemp -d /tmp/kpvm.XXXXXX)
QPID=""
cleanup() {
    if [[ -n $QPID ]]; then kill "$QPID" 2>/dev/null || true; fi
    if [[ $OWN_NS == 1 ]]; then ip netns del "$NETNS" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

args=(-machine pc -accel tcg -cpu qemu64 -smp 1 -m "$MEM"
      -nodefaults -no-user-config -display none -no-reboot
      -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initramfs.cpio")
nic=0
for t in "$TAP" "${EXTRA[@]}"; do
    mac=$(printf '52:54:00:%02x:%02x:%02x' $(($$ & 255)) $((($$ >> 8) & 255)) "$nic")
    args+=(-netdev "tap,id=n$nic,ifname=$t,script=no,downscript=no"
           -device "virtio-net-pci,netdev=n$nic,mac=$mac")
    nic=$((nic + 1))
done

# qemu creates missing TAPs down and without an address: fix that up as
# soon as they appear.
tap_setup() {
    local t i
    for t in "$TAP" "${EXTRA[@]}"; do
        for ((i = 0; i < 200; i++)); do
            ip -n "$NETNS" link show "$t" >/dev/null 2>&1 && break
            sleep 0.05
        done
        ip -n "$NETNS" link set "$t" up
    done
    if [[ -n $ADDR ]]; then
        ip -n "$NETNS" addr add "$ADDR" dev "$TAP"
    fi
}

if [[ $HAVE_CMD == 0 ]]; then
    echo "vm.sh: netns $NETNS, tap $TAP; Ctrl-A X quits" >&2
    tap_setup &
    ip netns exec "$NETNS" qemu-system-x86_64 "${args[@]}" \
        -append "console=ttyS0 panic=-1 quiet kpeer.shell=1 $KARGS" \
        -serial mon:stdio
    exit 0
fi

b64=$(printf '%s' "$CMD" | base64 -w0)
# x86 kernels truncate the command line at 2048 bytes.
if ((${#b64} > 1800)); then
    echo "vm.sh: command too long for the kernel command line (use the Rust harness)" >&2
    exit 2
fi
LOG=${LOG:-$TMP/console.log}
: >"$LOG"
ip netns exec "$NETNS" qemu-system-x86_64 "${args[@]}" \
    -append "console=ttyS0 panic=-1 quiet kpeer.cmd=$b64 $KARGS" \
    -serial "file:$LOG" </dev/null &
QPID=$!
tap_setup
wait "$QPID" || true
QPID=""
# The console adds CRs; the script's output sits between the two markers.
tr -d '\r' <"$LOG" | awk '
    /^__KP_RESULT / { st = $2; done = 1; exit }
    on { print }
    /^__KP_OUTPUT_BEGIN$/ { on = 1 }
    END { if (!done) { print "vm.sh: guest gave no result (see console log)" > "/dev/stderr"; exit 125 }
          exit st }'
