#!/usr/bin/env python3
"""Unit tests of the benchmark's parsing and arithmetic (no root, no namespaces).

    python3 bench/dataplane/test_run.py
"""

import importlib.machinery
import importlib.util
import os
import sys
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
_RUN = Path(__file__).resolve().with_name("run")
_loader = importlib.machinery.SourceFileLoader("dataplane_run", str(_RUN))
_spec = importlib.util.spec_from_loader("dataplane_run", _loader)
run = importlib.util.module_from_spec(_spec)
sys.modules["dataplane_run"] = run  # dataclasses look their module up here
_loader.exec_module(run)

PING = """PING 198.19.1.2 (198.19.1.2) from 198.19.1.1 : 56(84) bytes of data.
64 bytes from 198.19.1.2: icmp_seq=1 ttl=64 time=0.455 ms
64 bytes from 198.19.1.2: icmp_seq=2 ttl=64 time=0.068 ms
64 bytes from 198.19.1.2: icmp_seq=4 ttl=64 time=0.071 ms

--- 198.19.1.2 ping statistics ---
4 packets transmitted, 3 received, 25% packet loss, time 405ms
rtt min/avg/max/mdev = 0.068/0.198/0.455/0.181 ms
"""

TCP = {
    "end": {
        "sum_sent": {"seconds": 5.0, "bytes": 1000, "bits_per_second": 2e9, "retransmits": 7},
        "sum_received": {"seconds": 5.0, "bytes": 625_000_000, "bits_per_second": 1e9},
    }
}

# iperf3 3.12 reports UDP both as "sum" and "sum_received"; older ones only as "sum".
UDP = {
    "end": {
        "sum": {"seconds": 2.0, "packets": 1000, "lost_packets": 250, "lost_percent": 25.0},
        "sum_received": {"seconds": 2.0, "packets": 1000, "lost_packets": 250},
    }
}


class Parsing(unittest.TestCase):
    def test_ping_times_in_microseconds(self):
        rtts = run.parse_ping(PING)
        self.assertEqual(len(rtts), 3)
        self.assertAlmostEqual(rtts[0], 455.0)
        self.assertAlmostEqual(rtts[1], 68.0)
        self.assertEqual(run.parse_ping_sent(PING), (4, 3))

    def test_ping_without_replies(self):
        text = "--- x ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss\n"
        self.assertEqual(run.parse_ping(text), [])
        self.assertEqual(run.parse_ping_sent(text), (3, 0))

    def test_iperf_tcp_uses_receiver_side(self):
        gbps, nbytes, secs, retr = run.parse_iperf_tcp(TCP)
        self.assertAlmostEqual(gbps, 1.0)
        self.assertEqual(nbytes, 625_000_000)
        self.assertEqual(secs, 5.0)
        self.assertEqual(retr, 7)

    def test_iperf_error_is_reported(self):
        with self.assertRaisesRegex(ValueError, "unable to connect"):
            run.parse_iperf_tcp({"error": "unable to connect to server"})
        with self.assertRaisesRegex(ValueError, "sum_received"):
            run.parse_iperf_tcp({"end": {}})

    def test_iperf_udp_received_rate_and_loss(self):
        pps, loss, sent = run.parse_iperf_udp(UDP)
        self.assertAlmostEqual(pps, 375.0)
        self.assertAlmostEqual(loss, 25.0)
        self.assertEqual(sent, 1000)
        old = {"end": {"sum": UDP["end"]["sum"]}}
        self.assertAlmostEqual(run.parse_iperf_udp(old)[0], 375.0)
        with self.assertRaises(ValueError):
            run.parse_iperf_udp({"end": {"sum": {"packets": 1}}})

    def test_proc_stat_busy_excludes_idle_and_iowait(self):
        hz = os.sysconf("SC_CLK_TCK")
        busy, total = run.parse_proc_stat_busy(
            "cpu  100 10 50 1000 40 5 6 7 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
        self.assertAlmostEqual(busy, (100 + 10 + 50 + 5 + 6 + 7) / hz)
        self.assertAlmostEqual(total, (100 + 10 + 50 + 5 + 6 + 7 + 1000 + 40) / hz)
        with self.assertRaises(ValueError):
            run.parse_proc_stat_busy("intr 1 2 3\n")

    def test_pid_stat_with_spaces_in_comm(self):
        hz = os.sysconf("SC_CLK_TCK")
        fields = ["S"] + ["0"] * 10 + ["300", "200"] + ["0"] * 30
        text = "1234 (iperf3 (x) y) " + " ".join(fields)
        self.assertAlmostEqual(run.parse_pid_stat_cpu(text), 500 / hz)


class Arithmetic(unittest.TestCase):
    def test_median_skips_missing_runs(self):
        self.assertEqual(run.median([3.0, None, 1.0, 2.0]), 2.0)
        self.assertIsNone(run.median([None]))
        self.assertIsNone(run.median([]))

    def test_ratios_against_anchor(self):
        anchor = {"tcp1_gbps": 10.0, "rtt_median_us": 50.0, "udp64_loss_pct": 0.0}
        path = {"tcp1_gbps": 5.0, "rtt_median_us": 100.0, "udp64_loss_pct": 3.0}
        r = run.ratios(path, anchor)
        self.assertAlmostEqual(r["tcp1_gbps"], 0.5)
        self.assertAlmostEqual(r["rtt_median_us"], 2.0)
        self.assertIsNone(r["udp64_loss_pct"])  # anchor lost nothing: no ratio
        self.assertIsNone(r["tcp4_gbps"])
        self.assertIsNone(run.ratios(path, None)["tcp1_gbps"])


class Once(unittest.TestCase):
    def test_result_and_unavailability_are_shared(self):
        ctx, calls = {}, []

        def make(c):
            calls.append(c)
            return "bins"

        def fail(c):
            calls.append(c)
            raise run.Unavailable("no cargo")

        self.assertEqual(run.once(ctx, "bins", make), "bins")
        self.assertEqual(run.once(ctx, "bins", make), "bins")
        for _ in range(2):
            with self.assertRaisesRegex(run.Unavailable, "no cargo"):
                run.once(ctx, "daemons", fail)
        self.assertEqual(len(calls), 2, "each thing is made once, failed or not")


class Options(unittest.TestCase):
    def test_defaults_and_quick(self):
        a = run.parse_args([])
        self.assertEqual((a.runs, a.duration, a.pings), (3, 5, 200))
        self.assertEqual(a.paths, run.ALL_PATHS)
        q = run.parse_args(["--quick"])
        self.assertEqual((q.runs, q.duration, q.pings), (1, 2, 50))
        # Explicit values win over --quick.
        self.assertEqual(run.parse_args(["--quick", "--runs", "5"]).runs, 5)

    def test_only_validates_path_names(self):
        self.assertEqual(run.parse_args(["--only", "vxlan, l2tp-ip"]).paths, ["vxlan", "l2tp-ip"])
        with self.assertRaises(SystemExit):
            run.parse_args(["--only", "vxlan,gre"])
        with self.assertRaises(SystemExit):
            run.parse_args(["--runs", "0"])


class L2tpPaths(unittest.TestCase):
    def test_every_path_has_a_setup_and_l2tp_paths_do_not_collide(self):
        self.assertEqual(list(run.SETUPS), run.ALL_PATHS)
        self.assertEqual(run.ALL_PATHS[-4:], list(run.L2TP_PATHS))
        specs = list(run.L2TP_PATHS.values())
        for attr in ("id", "overlay", "ifname"):
            values = [getattr(s, attr) for s in specs]
            self.assertEqual(len(set(values)), len(values), attr)
        # The two pairs share the underlay addresses: their UDP tunnels need their own ports.
        ports = [s.udp_port for s in specs if s.encap == "udp"]
        self.assertEqual(sorted(ports), [1701, 1702])
        self.assertTrue(all(s.udp_port is None for s in specs if s.encap == "ip"))
        self.assertEqual({s.daemons for s in specs}, set(run.L2TP_DAEMONS))
        # Overlays stay inside the benchmarking range and away from vxlan (1) and openvpn (2).
        self.assertTrue(all(3 <= s.overlay <= 255 for s in specs))
        self.assertEqual(run.L2TP_PATHS["l2tp-ip-user"].ifname, "l2tpeth3")

    def test_each_pair_has_its_own_underlay_addresses(self):
        import ipaddress
        bench = ipaddress.ip_network("198.18.0.0/15")
        pairs = [d["underlay"] for d in run.L2TP_DAEMONS.values()]
        self.assertEqual(run.L2TP_DAEMONS["tcbpf"]["underlay"], (run.UNDERLAY_A, run.UNDERLAY_B))
        addrs = [a for pair in pairs for a in pair]
        self.assertEqual(len(set(addrs)), len(addrs))
        self.assertTrue(all(ipaddress.ip_address(a) in bench for a in addrs))
        # On the veth's /24, so the peer is on-link like the first pair's.
        self.assertTrue(all(a.startswith("198.18.0.") for a in addrs))

    def test_user_paths_run_with_the_fast_path_off(self):
        for name, spec in run.L2TP_PATHS.items():
            flag = run.L2TP_DAEMONS[spec.daemons]["L2TP_DP_TCBPF"]
            self.assertEqual(flag, "0" if name.endswith("-user") else "1", name)
            self.assertIn("L2TP_DP_TCBPF=0" if flag == "0" else "tc-bpf fast path",
                          run.SETUPS[name][1])

    def test_daemon_env_keeps_the_callers_environment(self):
        base = {"PATH": "/usr/bin:/bin", "RUST_LOG": "debug", "L2TP_DP_TCBPF": "0"}
        env = run.daemon_env(base, "1")
        self.assertEqual(env["PATH"], "/usr/bin:/bin")
        self.assertEqual(env["RUST_LOG"], "debug")
        self.assertEqual(env["L2TP_DP_TCBPF"], "1")
        self.assertEqual(env["L2TP_DP_TCBPF_TX"], "1")
        self.assertEqual(base["L2TP_DP_TCBPF"], "0")  # the caller's copy is untouched
        self.assertEqual(run.daemon_env({}, "0"),
                         {"L2TP_DP_TCBPF": "0", "L2TP_DP_TCBPF_TX": "0"})

    def test_tcbpf_state_from_daemon_logs(self):
        self.assertEqual(run.tcbpf_state(""), (None, None))
        self.assertEqual(run.tcbpf_state("INFO l2tp_dataplane: tc-bpf fast path loaded\n"),
                         ("loaded", None))
        self.assertEqual(
            run.tcbpf_state("WARN x: tc-bpf fast path unavailable, all traffic stays in "
                            "userspace: Operation not permitted (os error 1)\n"),
            ("unavailable", "Operation not permitted (os error 1)"))
        self.assertEqual(
            run.tcbpf_state("INFO tc-bpf fast path loaded\nWARN x: session_id=3 session stays "
                            "on the userspace path: tc-bpf attach failed: map full\n"),
            ("partial", "map full"))


if __name__ == "__main__":
    unittest.main()
