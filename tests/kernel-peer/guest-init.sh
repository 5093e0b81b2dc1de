#!/bin/bash
# PID 1 of the kernel-peer guest (packed as /init by prepare.sh).
#
# ttyS0 is the console (kernel log; an interactive shell with kpeer.shell=1).
# ttyS1, when present, carries the host's command channel, one request per
# line:   <id> <timeout-seconds, 0 = none> <base64 of a bash script>
# and one framed reply per request:
#   \n__KP_BEGIN_<id> <output length in bytes>\n<output>__KP_END_<id> <status>\n
# The length prefix keeps the framing exact whatever the output contains.
#
# kpeer.cmd=<base64 script> on the kernel command line instead runs that
# script on the console, prints "__KP_RESULT <status>" and powers off.
# kpeer.shell=1 runs an interactive bash on the console.
# kpeer.noipv6=1 disables IPv6 on all interfaces by default.

export PATH=/usr/sbin:/usr/bin HOME=/root TERM=${TERM:-linux}
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ln -sf /proc/self/fd /dev/fd
exec </dev/console >/dev/console 2>&1

KVER=$(cat /etc/kpeer/kernel-version)
while read -r rel; do
    args=()
    # Tests create the devices they need; no stray dummy0.
    [[ $rel == */dummy.ko ]] && args=(numdummies=0)
    insmod "/lib/modules/$KVER/$rel" "${args[@]}" || echo "kpeer: insmod $rel failed"
done </etc/kpeer/modules.load

hostname kpeer
cmdline=$(cat /proc/cmdline)
param() {
    local w
    for w in $cmdline; do
        [[ $w == "$1="* ]] && { printf '%s' "${w#*=}"; return 0; }
    done
    return 1
}

# Addresses must be usable at once: tests bind tunnels to them right away.
# DAD runs unless both "all" and the device say no, so existing devices
# (eth*, created by the modules above) need it too.
for f in /proc/sys/net/ipv6/conf/*/accept_dad; do
    echo 0 >"$f"
done
# kpeer.noipv6=1 keeps router/multicast chatter out of IPv4-only captures
# (re-enable per device with net.ipv6.conf.DEV.disable_ipv6=0).
if [[ $(param kpeer.noipv6) == 1 ]]; then
    sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
fi
ip link set lo up
for dev in /sys/class/net/eth*; do
    [[ -e $dev ]] && ip link set "${dev##*/}" up
done

echo "kpeer: ready after $(cut -d' ' -f1 /proc/uptime) s (kernel $KVER)"

serve() {
    local tty=$1 dir=/run/kpeer id tmo b64 st len
    mkdir -p "$dir"
    # Open once and keep open: closing a serial tty drops unread input.
    exec <>"$tty" >&0 2>/dev/null
    stty raw -echo
    while IFS=' ' read -r id tmo b64; do
        [[ $id =~ ^[0-9]+$ && $tmo =~ ^[0-9]+$ ]] || continue
        if printf '%s' "$b64" | base64 -d >"$dir/cmd.$id" 2>/dev/null; then
            # Output goes to a file, never the tty: background jobs a
            # command leaves behind then cannot corrupt later replies.
            if [[ $tmo -gt 0 ]]; then
                (cd /root && exec timeout -s KILL "$tmo" bash "$dir/cmd.$id") \
                    </dev/null >"$dir/out.$id" 2>&1
            else
                (cd /root && exec bash "$dir/cmd.$id") </dev/null >"$dir/out.$id" 2>&1
            fi
            st=$?
        else
            echo "kpeer: command $id is not valid base64" >"$dir/out.$id"
            st=254
        fi
        len=$(stat -c %s "$dir/out.$id")
        printf '\n__KP_BEGIN_%s %s\n' "$id" "$len"
        cat "$dir/out.$id"
        printf '__KP_END_%s %s\n' "$id" "$st"
        rm -f "$dir/cmd.$id" "$dir/out.$id"
    done
}

if [[ -e /dev/ttyS1 ]] && [[ $(cat /sys/class/tty/ttyS1/type 2>/dev/null) != 0 ]]; then
    setsid bash -c "$(declare -f serve); serve /dev/ttyS1" &
fi

if script=$(param kpeer.cmd); then
    printf '%s' "$script" | base64 -d >/run/kpeer-cmd.sh
    echo "__KP_OUTPUT_BEGIN"
    (cd /root && bash /run/kpeer-cmd.sh) </dev/null
    st=$?
    echo "__KP_RESULT $st"
    poweroff -f
fi

if [[ $(param kpeer.shell) == 1 ]]; then
    while :; do
        setsid bash -c 'exec bash -i <>/dev/ttyS0 >&0 2>&1'
        sleep 1
    done &
fi

# PID 1 must never exit; bash reaps re-parented orphans while it waits.
while :; do
    sleep 3600
done
