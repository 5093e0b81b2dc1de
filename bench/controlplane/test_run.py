#!/usr/bin/env python3
"""Unit tests of the control-plane benchmark's parsing, configs and arithmetic (no root, no
namespaces, no daemons).

    python3 bench/controlplane/test_run.py
"""

import contextlib
import importlib.machinery
import importlib.util
import io
import sys
import tomllib
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
_RUN = Path(__file__).resolve().with_name("run")
_loader = importlib.machinery.SourceFileLoader("controlplane_run", str(_RUN))
_spec = importlib.util.spec_from_loader("controlplane_run", _loader)
run = importlib.util.module_from_spec(_spec)
sys.modules["controlplane_run"] = run
_loader.exec_module(run)

STATUS = """Name:\tl2tpd
VmPeak:\t  123456 kB
VmHWM:\t   99000 kB
VmRSS:\t   88000 kB
Threads:\t5
"""

# A command name with a space and a parenthesis, as /proc allows.
STAT = ("4242 (l2tpd (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 "
        "150 50 0 0 20 0 5 0 100 1000 200 18446744073709551615")

LOG = """\
2026-11-23T22:50:14.100000Z  INFO l2tpd: l2tpd starting version="0.1.0"
2026-11-23T22:50:14.201845Z  INFO l2tpd::lcce: sending SCCRQ tunnel=to-b peer=198.18.0.2:1701
2026-11-23T22:50:14.211212Z  INFO l2tpd::lcce: tunnel up tunnel=to-b local_id=1 peer_id=2
2026-11-23T22:50:14.213288Z  INFO l2tpd::lcce: session up tunnel_id=1 session_id=5 ifname=
2026-11-23T22:50:14.267831Z  INFO l2tpd::lcce: session up tunnel_id=1 session_id=6 ifname=
2026-11-23T22:50:15.000000Z  WARN l2tpd::lcce: session failed tunnel_id=1 session_id=7
"""


def run_result(digest, n, rate, per_a, per_b, cpu_a, cpu_b, ok=True, held=None):
    return {
        "digest": digest, "sessions": n, "sessions_per_s": rate,
        "time": {"tunnel_up_to_all_up_s": n / rate},
        "memory": {"a": {"bytes_per_session": per_a, "rss_after_hold": 100},
                   "b": {"bytes_per_session": per_b, "rss_after_hold": 200}},
        "cpu": {"a": {"cpu_s_to_all_up": cpu_a}, "b": {"cpu_s_to_all_up": cpu_b}},
        "held_sessions": n if held is None else held,
        "hold": {"ok": ok},
    }


class Parsing(unittest.TestCase):
    def test_status(self):
        self.assertEqual(run.parse_status_kb(STATUS, "VmRSS"), 88000 * 1024)
        self.assertEqual(run.parse_status_kb(STATUS, "VmHWM"), 99000 * 1024)
        self.assertIsNone(run.parse_status_kb(STATUS, "VmSwap"))

    def test_stat_counts_fields_after_the_name(self):
        self.assertAlmostEqual(run.parse_stat_cpu(STAT, 100), 2.0)

    def test_schedstat(self):
        self.assertAlmostEqual(run.parse_schedstat("1500000000 2000 7\n"), 1.5)

    def test_log_seconds(self):
        self.assertAlmostEqual(run.log_seconds(LOG.splitlines()[1]), 22 * 3600 + 50 * 60 + 14.201845)
        self.assertIsNone(run.log_seconds("not a log line"))

    def test_log_marks(self):
        m = run.log_marks(LOG)
        self.assertAlmostEqual(m["sccrq"], 22 * 3600 + 50 * 60 + 14.201845)
        self.assertAlmostEqual(m["tunnel_up"] - m["sccrq"], 0.009367, places=6)
        self.assertAlmostEqual(m["last_session"] - m["first_session"], 0.054543, places=6)
        self.assertEqual((m["sessions_up"], m["sessions_down"], m["warnings"]), (2, 1, 1))

    def test_span_crosses_midnight(self):
        self.assertAlmostEqual(run.span(86399.5, 0.5), 1.0)
        self.assertAlmostEqual(run.span(10.0, 12.5), 2.5)
        self.assertIsNone(run.span(None, 1.0))

    def test_ratio(self):
        self.assertAlmostEqual(run.ratio(25_000, run.TARGET_RATE, True), 2.5)
        self.assertAlmostEqual(run.ratio(1024, run.TARGET_BYTES, False), 2.0)
        self.assertIsNone(run.ratio(0, run.TARGET_BYTES, False))
        self.assertIsNone(run.ratio(None, run.TARGET_RATE, True))

    def test_dynamic_tunnel(self):
        ts = [{"tunnel_id": 1, "origin": "static"}, {"tunnel_id": 9, "origin": "dynamic"}]
        self.assertEqual(run.dynamic_tunnel(ts)["tunnel_id"], 9)
        self.assertIsNone(run.dynamic_tunnel([ts[0]]))
        self.assertIsNone(run.dynamic_tunnel(None))


class Configs(unittest.TestCase):
    def test_initiator_uses_count(self):
        c = tomllib.loads(run.a_config(100_000, 1024, 2.0, "none"))
        self.assertEqual(c["max_sessions_per_tunnel"], 100_000)
        t = c["tunnel"][0]
        self.assertTrue(t["initiate"])
        self.assertEqual((t["local"], t["peer"], t["window"]), ("198.18.0.1", "198.18.0.2", 1024))
        self.assertNotIn("secret", t)
        self.assertEqual(t["session"], [{"pw_type": "none", "cookie_len": 4, "count": 100_000}])

    def test_initiator_without_sessions(self):
        t = tomllib.loads(run.a_config(0, 16, 2.0, "none"))["tunnel"][0]
        self.assertNotIn("session", t)

    def test_expanded_entries(self):
        c = tomllib.loads(run.a_config(3, 16, 2.0, "none", expand=True))
        self.assertNotIn("max_sessions_per_tunnel", c)
        self.assertEqual(len(c["tunnel"][0]["session"]), 3)
        self.assertNotIn("count", c["tunnel"][0]["session"][0])

    def test_acceptor_with_digest(self):
        c = tomllib.loads(run.b_config(10, 1024, 2.0, "md5"))
        t = c["tunnel"][0]
        self.assertFalse(t.get("initiate", False))
        self.assertEqual((t["secret"], t["digest"]), (run.SECRET, "md5"))
        self.assertEqual(t["session"], [{"pw_type": "none", "cookie_len": 4}])
        a = tomllib.loads(run.a_config(10, 1024, 2.0, "md5"))["tunnel"][0]
        self.assertEqual(a["secret"], t["secret"])


class Summary(unittest.TestCase):
    def test_medians_and_ratios(self):
        runs = [
            run_result("none", 100_000, 20_000, 900, 800, 2.0, 1.5),
            run_result("none", 100_000, 40_000, 1000, 700, 2.5, 2.0),
            run_result("none", 100_000, 30_000, 950, 1100, 3.0, 2.0),
            run_result("md5", 1000, 9_000, 3000, 1000, 0.04, 0.03, ok=False, held=999),
        ]
        s = {(x["digest"], x["sessions"]): x for x in run.summarize(runs)}
        n = s[("none", 100_000)]
        self.assertEqual(n["runs"], 3)
        self.assertEqual(n["sessions_per_s"], 30_000)
        self.assertEqual((n["sessions_per_s_min"], n["sessions_per_s_max"]), (20_000, 40_000))
        self.assertAlmostEqual(n["sessions_per_s_ratio"], 3.0)
        self.assertEqual(n["bytes_per_session"], {"a": 950, "b": 800})
        # The worse daemon decides.
        self.assertAlmostEqual(n["bytes_per_session_ratio"], 2048 / 950)
        self.assertEqual(n["cpu_s"], {"a": 2.5, "b": 2.0})
        self.assertAlmostEqual(n["cpu_us_per_session"], 45.0)
        self.assertTrue(n["held_ok"])
        m = s[("md5", 1000)]
        self.assertAlmostEqual(m["sessions_per_s_ratio"], 0.9)
        self.assertAlmostEqual(m["bytes_per_session_ratio"], 2048 / 3000)
        self.assertFalse(m["held_ok"])
        self.assertEqual(m["held_sessions"], 999)

    def test_failed_runs(self):
        runs = [{"digest": "none", "sessions": 10, "run": 1, "error": "boom"},
                run_result("none", 10, 10_000, 1, 1, 1.0, 1.0)]
        (s,) = run.summarize(runs)
        self.assertEqual((s["runs"], s["errors"]), (2, 1))
        self.assertFalse(s["held_ok"], "a failed run is not a held run")
        (e,) = run.summarize(runs[:1])
        self.assertNotIn("sessions_per_s", e)


class Options(unittest.TestCase):
    def test_defaults_and_quick(self):
        a = run.parse_args([])
        self.assertEqual(a.session_counts, [1000, 10_000, 100_000])
        self.assertEqual((a.runs, a.hold, a.digests, a.window), (3, 10.0, ["none", "md5"], 1024))
        q = run.parse_args(["--quick", "--runs", "2"])
        self.assertEqual((q.runs, q.hold), (2, 5.0))

    def test_rejects_bad_values(self):
        for argv in (["--sessions", "0"], ["--digest", "sha256"], ["--window", "0"],
                     ["--hold", "3", "--hello", "2"], ["--sessions", "x"]):
            with self.assertRaises(SystemExit, msg=argv), \
                    contextlib.redirect_stderr(io.StringIO()):
                run.parse_args(argv)


if __name__ == "__main__":
    unittest.main(verbosity=1)
