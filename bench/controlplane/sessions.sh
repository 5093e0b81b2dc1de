#!/bin/sh
# Time to establish dynamic L2TPv3 sessions over one tunnel between two
# l2tpd (RFC 3931 control protocol) in two network namespaces on this
# machine. Needs root. Prints one line per run.
#
# The full control-plane benchmark (1,000 to 100,000 sessions, rate, memory
# and CPU per session against the targets, JSON) is bench/controlplane/run;
# this is the quick check through the integration test, also with TAP
# devices.
#
#   bench/controlplane/sessions.sh                 # 1 and 100 with TAP devices, 1000 without
#   L2TPD_SCALE=1000:eth bench/controlplane/sessions.sh
#
# "eth" sessions get a TAP device each; "none" sessions are negotiated as
# Ethernet pseudowires but get no device (control-plane cost only).
set -eu
cd "$(dirname "$0")/../.."
: "${L2TPD_SCALE:=1:eth,100:eth,1000:none}"
export L2TPD_SCALE
exec cargo test --release -p l2tpd --test scale -- --ignored --nocapture --test-threads=1
