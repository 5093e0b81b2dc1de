#!/usr/bin/env bash
# Records what the Linux kernel's own L2TPv3 data plane puts on the wire,
# as pcap files for the codec's tests (testdata/kernel/), and derives
# expect.json from tshark's decoding of them.
#
#   make-captures.sh [OUTDIR]      (default: $REPO/testdata/kernel)
#
# For each case the guest (tests/kernel-peer, booted with vm.sh) sets up a
# static tunnel + session towards the host namespace, gives l2tpeth0 an
# address, pings a missing neighbour (3 ARP requests), the subnet's
# broadcast address with seven payload sizes and, over a VLAN 100 on top
# of l2tpeth0, a second broadcast address twice (802.1Q-tagged inner
# frames): 12 L2TP data packets per case. tcpdump records the host
# TAP. The host has no L2TP, so nftables drops the tunnel traffic silently
# (no ICMP errors in the captures). Needs root, qemu, tcpdump, tshark, nft.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${1:-$REPO/testdata/kernel}
mkdir -p "$OUT"
"$HERE/prepare.sh"

NS=kpcap-$$
TAP=kpcap0
TCPDUMP_PID=""
cleanup() {
    if [[ -n $TCPDUMP_PID ]]; then kill "$TCPDUMP_PID" 2>/dev/null || true; fi
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT

# Linux semantics (checked against these very captures): packets carry
# the PEER session id but the session's OWN `cookie`; `peer_cookie` is what
# it expects to receive. Distinct values per direction (and session ids
# with the top bit set) catch mix-ups and 32-bit truncation.
COOKIE4_TX=a1a2a3a4
COOKIE4_RX=d0d1d2d3
COOKIE8_TX=0102030405060708
COOKIE8_RX=c0c1c2c3c4c5c6c7

# name encap family cookie-bytes l2spec seq local-session peer-session
CASES=(
    "v3-udp4-cookie8-seq   udp 4 8 default both 0x1001 0x80000011"
    "v3-udp4-cookie4-seq   udp 4 4 default both 0x1002 0x80000012"
    "v3-udp6-cookie8-seq   udp 6 8 default both 0x1003 0x80000013"
    "v3-udp6-cookie4-seq   udp 6 4 default both 0x1004 0x80000014"
    "v3-ip4-cookie8-seq    ip  4 8 default both 0x1005 0x80000015"
    "v3-ip4-cookie4-seq    ip  4 4 default both 0x1006 0x80000016"
    "v3-ip6-cookie8-seq    ip  6 8 default both 0x1007 0x80000017"
    "v3-ip6-cookie4-seq    ip  6 4 default both 0x1008 0x80000018"
    "v3-udp4-nocookie-l2specnone udp 4 0 none none 0x1009 0x80000019"
    "v3-ip4-nocookie-l2specnone  ip  4 0 none none 0x100a 0x8000001a"
)

# Prints the guest script for one case (also quoted in the README).
guest_script() {
    local encap=$1 fam=$2 cbytes=$3 l2spec=$4 seq=$5 sid=$6 psid=$7
    local local_ip remote_ip plen cookie="" udp=""
    if [[ $fam == 4 ]]; then
        local_ip=198.18.0.2 remote_ip=198.18.0.1 plen=24
    else
        local_ip=2001:db8::2 remote_ip=2001:db8::1 plen=64
        echo "sysctl -qw net.ipv6.conf.eth0.router_solicitations=0 net.ipv6.conf.eth0.disable_ipv6=0"
    fi
    case $cbytes in
        4) cookie=" cookie $COOKIE4_TX peer_cookie $COOKIE4_RX" ;;
        8) cookie=" cookie $COOKIE8_TX peer_cookie $COOKIE8_RX" ;;
    esac
    [[ $encap == udp ]] && udp=" udp_sport 1701 udp_dport 1701"
    cat <<EOF
ip addr add $local_ip/$plen dev eth0
ip l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 encap $encap local $local_ip remote $remote_ip$udp
ip l2tp add session name l2tpeth0 tunnel_id 1 session_id $sid peer_session_id $psid$cookie l2spec_type $l2spec seq $seq
ip link set l2tpeth0 up
ip addr add 198.19.0.2/24 dev l2tpeth0
ping -c 3 -i 1 -W 1 198.19.0.9 || true
for size in 0 1 18 100 512 1000 1300; do ping -b -c 1 -W 1 -s \$size 198.19.0.255 || true; done
ip link add link l2tpeth0 name l2tpeth0.100 type vlan id 100
ip link set l2tpeth0.100 up
ip addr add 198.19.100.2/24 dev l2tpeth0.100
ping -b -c 2 -i 0.5 -W 1 -s 56 198.19.100.255 || true
sleep 1
ip l2tp show session
EOF
}

capture() {
    local name=$1 encap=$2 fam=$3 cbytes=$4 l2spec=$5 seq=$6 sid=$7 psid=$8
    local pcap=$OUT/$name.pcap log=$OUT/.tcpdump.log
    ip netns del "$NS" 2>/dev/null || true
    ip netns add "$NS"
    # A persistent TAP exists before qemu, so tcpdump sees every frame.
    ip -n "$NS" tuntap add dev "$TAP" mode tap
    if [[ $fam == 4 ]]; then
        ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1"
        ip -n "$NS" addr add 198.18.0.1/24 dev "$TAP"
    else
        ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$TAP.router_solicitations=0"
        ip -n "$NS" addr add 2001:db8::1/64 dev "$TAP" nodad
    fi
    ip -n "$NS" link set "$TAP" up
    ip netns exec "$NS" nft -f - <<'EOF'
table inet kpcap {
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 1701 drop
        meta l4proto 115 drop
    }
}
EOF
    ip netns exec "$NS" tcpdump -Z root -i "$TAP" -s 0 -U -w "$pcap" 2>"$log" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$log" 2>/dev/null && break
        sleep 0.1
    done
    echo "== $name" >&2
    "$HERE/vm.sh" -n "$NS" -t "$TAP" -k "kpeer.noipv6=1" \
        -c "$(guest_script "$encap" "$fam" "$cbytes" "$l2spec" "$seq" "$sid" "$psid")" >&2
    sleep 0.5
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=""
    rm -f "$log"
    ip netns del "$NS"
}

# tshark preferences matching a case, as in the README's decode command.
tshark_prefs() {
    local cbytes=$1 l2spec=$2 cookie_pref spec_pref
    case $cbytes in
        0) cookie_pref=None ;;
        4) cookie_pref="4 Byte Cookie" ;;
        8) cookie_pref="8 Byte Cookie" ;;
    esac
    case $l2spec in
        default) spec_pref="Default L2-Specific" ;;
        none) spec_pref=None ;;
    esac
    printf '%s\n' -o "l2tp.cookie_size:$cookie_pref" -o "l2tp.l2_specific:$spec_pref"
}

# One JSON object for a capture, from tshark's PDML. tshark cannot know
# the pseudowire type of a static session, so the inner frame shows up as
# "data"; payload_len is its data.len, cross-checked against frame length
# minus the end of the L2TP header. Plain POSIX awk (mawk on Debian).
expect_entry() {
    local name=$1 encap=$2 fam=$3 cbytes=$4 l2spec=$5 seq=$6 sid=$7 psid=$8
    local prefs=()
    mapfile -t prefs < <(tshark_prefs "$cbytes" "$l2spec")
    tshark -r "$OUT/$name.pcap" "${prefs[@]}" -T pdml 2>/dev/null | awk \
        -v name="$name.pcap" -v encap="$encap" -v fam="$fam" -v cbytes="$cbytes" \
        -v l2spec="$l2spec" -v seqmode="$seq" -v psid="$psid" '
        function attr(line, key,    m) {
            if (match(line, key "=\"[^\"]*\"")) {
                m = substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 3)
                return m
            }
            return ""
        }
        BEGIN {
            printf "  \"%s\": {\n", name
            printf "    \"encap\": \"%s\",\n    \"underlay\": \"ipv%s\",\n", encap, fam
            printf "    \"cookie_len\": %d,\n    \"l2spec\": \"%s\",\n", cbytes, l2spec
            printf "    \"packets\": [\n"
            n = 0
        }
        function hex2num(h,    i, v) {
            v = 0
            for (i = 1; i <= length(h); i++)
                v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
            return v
        }
        /<packet>/ { frame = ""; flen = ""; in_l2tp = 0; l2tp = 0; sid = ""; cookie = ""; sq = "null"; hdr_end = ""; dlen = "" }
        /<field name="frame.number"/ { frame = attr($0, "show") }
        /<field name="frame.len"/ { flen = attr($0, "show") }
        /<proto name="l2tp"/ { l2tp = 1; in_l2tp = 1; hdr_end = attr($0, "pos") + attr($0, "size") }
        /<\/proto>/ { in_l2tp = 0 }
        in_l2tp && /<field name="l2tp.sid"/ { sid = hex2num(attr($0, "value")) }
        in_l2tp && /<field name="l2tp.cookie"/ { cookie = attr($0, "value") }
        in_l2tp && /<field name="l2tp.l2_spec_sequence"/ { sq = attr($0, "show") }
        l2tp && /<field name="data.len"/ && dlen == "" { dlen = attr($0, "show") }
        /<\/packet>/ {
            if (!l2tp) next
            if (dlen + 0 != flen - hdr_end) {
                printf "%s frame %s: data.len %s but frame %s - header end %s\n", name, frame, dlen, flen, hdr_end > "/dev/stderr"
                bad = 1
            }
            if (n++) printf ",\n"
            printf "      {\"frame\": %d, \"session_id\": %.0f, \"cookie\": \"%s\", \"seq\": %s, \"encap\": \"%s\", \"payload_len\": %d}", \
                frame, sid, cookie, sq, encap, dlen
        }
        END { printf "\n    ]\n  }"; exit bad }'
}

for c in "${CASES[@]}"; do
    # KPCAP_ONLY=name re-records just one case (expect.json is rebuilt).
    [[ -n ${KPCAP_ONLY:-} && ${c%% *} != "$KPCAP_ONLY" ]] && continue
    # shellcheck disable=SC2086
    capture $c
done

{
    echo "{"
    first=1
    for c in "${CASES[@]}"; do
        [[ $first == 1 ]] || echo ","
        first=0
        # shellcheck disable=SC2086
        expect_entry $c
    done
    echo
    echo "}"
} >"$OUT/expect.json"
echo "wrote $OUT/expect.json" >&2
