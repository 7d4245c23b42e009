"""agent/telemetry/trtexec.py: trtexec logs of TensorRT 7.1, 8.0.1, 8.2.1, 8.4.0 and 10.3.0,
engine load errors and a dpkg listing (recorded outputs in tests/fixtures/parsers/trtexec/,
whose expected JSON test_parser_fixtures.py compares whole), plus the forms no capture holds.

Standard library only, Python 3.6: `python3.6 -m unittest discover -s tests/agent -t .`.
"""

import os
import unittest

from agent.telemetry import trtexec

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(os.path.dirname(HERE), "fixtures", "parsers", "trtexec")


def read(name):
    with open(os.path.join(CASES, name), encoding="utf-8") as f:
        return f.read()


def parse(name):
    return trtexec.parse_trtexec(read(name))


def row(section):
    """(min, max, mean, median) of a section."""
    return tuple(section[k] for k in ("min_ms", "max_ms", "mean_ms", "median_ms"))


def log(*lines):
    return "\n".join("[05/13/2025-10:36:46] [I] " + line for line in lines) + "\n"


class RecordedLogsTest(unittest.TestCase):
    def assertClean(self, result):
        self.assertEqual(result["warnings"], [])
        self.assertEqual(result["errors"], [])

    def test_trt71_multi_line_sections(self):
        r = parse("trtexec_trt71_xavier_nx_jp44_epilog.txt")
        self.assertClean(r)
        self.assertIsNone(r["tensorrt_version"])  # no banner tag, no version line in 7.x
        self.assertEqual(r["status"], "passed")
        # `throughput: 0 qps` (explicit batch on TensorRT 7) is no measurement: null, with a note
        self.assertIsNone(r["throughput_qps"])
        self.assertEqual(r["notes"], [{"line": 8, "message": trtexec.THROUGHPUT_ZERO_NOTE}])
        self.assertEqual(row(r["latency"]), (4.34442, 7.12915, 4.52398, 4.49951))
        self.assertEqual(r["latency"]["p99_ms"], 5.46606)
        self.assertEqual(row(r["host_latency"]), (4.35388, 7.14398, 4.53851, 4.51025))  # end to end
        self.assertEqual(r["host_latency"]["p99_ms"], 6.10291)
        self.assertEqual(row(r["enqueue_time"]), (2.3894, 4.89722, None, 2.64331))  # no mean printed
        self.assertNotIn("p99_ms", r["enqueue_time"])
        self.assertEqual(row(r["gpu_compute_time"]), (4.2439, 7.02356, 4.42492, 4.40088))
        self.assertEqual(r["gpu_compute_time"]["p99_ms"], 5.36792)
        self.assertIsNone(r["h2d_latency"])
        self.assertIsNone(r["d2h_latency"])
        self.assertEqual(r["labels"]["latency"], "Host Latency")
        self.assertEqual(r["labels"]["gpu_compute_time"], "GPU Compute")

    def test_trt8001_summary_with_end_to_end(self):
        r = parse("trtexec_trt8001_jetson_nano_exporttimes_summary.txt")
        self.assertClean(r)  # the [W] enqueue-bound lines are trtexec's advice, not errors
        self.assertEqual(r["tensorrt_version"], "8.0.1")  # `TensorRT version: 8001`
        self.assertEqual((r["throughput_qps"], r["status"]), (24.5583, "passed"))
        self.assertEqual(row(r["latency"]), (40.5005, 40.8591, 40.6326, 40.6337))
        self.assertEqual(row(r["host_latency"]), (40.5388, 40.9277, 40.6771, 40.6718))
        self.assertEqual(r["labels"]["host_latency"], "End-to-End Host Latency")
        self.assertEqual(row(r["gpu_compute_time"]), (39.8569, 40.1931, 40.0027, 39.9982))
        self.assertEqual(row(r["enqueue_time"]), (40.2849, 40.6204, 40.4274, 40.4176))
        self.assertEqual(row(r["h2d_latency"]), (0.487671, 0.590698, 0.544677, 0.543213))
        self.assertEqual(row(r["d2h_latency"]), (0.0678711, 0.150146, 0.0852185, 0.079834))
        for section in trtexec.SECTIONS:
            self.assertEqual(r[section]["p99_ms"], r[section]["max_ms"])  # 100 queries
            self.assertEqual(sorted(r[section]), ["max_ms", "mean_ms", "median_ms", "min_ms", "p99_ms"])

    def test_trt8201_full_build_log(self):
        r = parse("trtexec_trt8201_jetson_nano_full.txt")
        self.assertClean(r)
        self.assertEqual(r["tensorrt_version"], "8.2.1")
        self.assertEqual((r["throughput_qps"], r["status"]), (11.0613, "passed"))
        self.assertEqual(row(r["latency"]), (89.312, 91.492, 90.3919, 90.3035))
        self.assertEqual(r["latency"]["p99_ms"], 91.492)
        self.assertEqual(row(r["host_latency"]), (89.3254, 91.5049, 90.4048, 90.3167))
        self.assertEqual(row(r["gpu_compute_time"]), (89.0273, 91.2045, 90.1061, 90.0183))
        self.assertEqual(r["gpu_compute_time"]["p99_ms"], 91.2045)
        self.assertEqual(row(r["enqueue_time"]), (1.54553, 9.62085, 6.19246, 6.2948))
        self.assertEqual(row(r["h2d_latency"]), (0.274475, 0.288208, 0.277587, 0.276855))
        self.assertEqual(row(r["d2h_latency"]), (0.00683594, 0.00881958, 0.008238, 0.00830078))
        self.assertEqual(r["notes"], [])

    def test_trt8400_no_end_to_end(self):
        r = parse("trtexec_trt8400_xavier_agx_jp50dp_summary.txt")
        self.assertClean(r)
        self.assertEqual(r["tensorrt_version"], "8.4.0")  # banner `[TensorRT v8400]` only
        self.assertEqual((r["throughput_qps"], r["status"]), (41087.7, "passed"))
        self.assertIsNone(r["host_latency"])
        self.assertNotIn("host_latency", r["labels"])
        self.assertEqual(row(r["latency"]), (0.387207, 0.447357, 0.402238, 0.401947))
        self.assertEqual(r["latency"]["p99_ms"], 0.420288)
        self.assertEqual(row(r["gpu_compute_time"]), (0.375977, 0.403564, 0.388221, 0.388443))
        self.assertEqual(r["gpu_compute_time"]["p99_ms"], 0.393188)
        self.assertEqual(row(r["enqueue_time"]), (0.0830078, 0.229004, 0.090497, 0.0871582))
        self.assertEqual(row(r["h2d_latency"]), (0.00622559, 0.0571899, 0.0104126, 0.00952148))
        self.assertEqual(row(r["d2h_latency"]), (0.00195312, 0.00537109, 0.00360451, 0.00366211))

    def test_trt100300_three_percentiles_and_no_data_transfers(self):
        r = parse("trtexec_trt100300_jetson_jp6_nodatatransfers_summary.txt")
        self.assertClean(r)
        self.assertEqual(r["tensorrt_version"], "10.3.0")  # banner v100300
        self.assertEqual((r["throughput_qps"], r["status"]), (318.007, "passed"))
        latency = r["latency"]
        self.assertEqual(row(latency), (3.12671, 3.15479, 3.14068, 3.14062))
        self.assertEqual(
            (latency["p90_ms"], latency["p95_ms"], latency["p99_ms"]), (3.14587, 3.14771, 3.15039)
        )
        self.assertEqual(r["gpu_compute_time"], latency)  # --noDataTransfers
        self.assertEqual(r["enqueue_time"]["p99_ms"], 1.0658)
        self.assertEqual(row(r["enqueue_time"]), (0.844238, 2.05505, 0.887139, 0.872437))
        # printed as `0 ms` (no transfers were made): kept as printed
        for section in ("h2d_latency", "d2h_latency"):
            self.assertEqual(set(r[section].values()), {0.0})
            self.assertEqual(len(r[section]), 7)
        self.assertIsNone(r["host_latency"])
        self.assertEqual(
            list(latency), ["min_ms", "max_ms", "mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms"]
        )

    def test_trt100300_unknown_options(self):
        text = read("trtexec_trt100300_jetson_unknown_option_error.txt")
        r = trtexec.parse_trtexec(text)
        self.assertEqual((r["tensorrt_version"], r["status"]), ("10.3.0", "failed"))
        self.assertIsNone(r["throughput_qps"])
        for section in trtexec.SECTIONS:
            self.assertIsNone(r[section])
        self.assertEqual(
            [(e["line"], e["kind"], e["message"]) for e in r["errors"]],
            [
                (2, "unknown_option", "Unknown option: --workspace 2048"),
                (3, "unknown_option", "Unknown option: --buildOnly"),
                (4, "unknown_option", "Unknown option: --explicitBatch"),
            ],
        )
        self.assertFalse(trtexec.is_engine_mismatch(text))

    def test_engine_load_errors(self):
        text = read("trt_engine_load_errors.txt")
        r = trtexec.parse_trtexec(text)
        kinds = [(e["line"], e["kind"]) for e in r["errors"]]
        self.assertEqual(
            kinds,
            [
                (3, "version_mismatch"),
                (4, "deserialization_failed"),
                (6, "version_mismatch"),
                (7, "deserialization_failed"),
                (9, "version_mismatch"),
                (11, "version_mismatch"),  # an issue title, lower case
                (13, "device_mismatch"),  # two messages run together
                (15, "device_mismatch"),
                (16, "deserialization_failed"),
                (17, "error"),
                (18, "deserialization_failed"),
                (20, "version_mismatch"),
            ],
        )
        self.assertEqual(r["errors"][0]["message"][:40], "6: The engine plan file is not compatibl")
        self.assertEqual(r["errors"][9]["message"], "INVALID_STATE: std::exception")
        self.assertIsNone(r["status"])
        self.assertIsNone(r["tensorrt_version"])
        self.assertTrue(trtexec.is_engine_mismatch(text))
        self.assertTrue(trtexec.is_engine_mismatch(r["errors"]))

    def test_engine_mismatch_line_by_line(self):
        lines = [
            line
            for line in read("trt_engine_load_errors.txt").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        verdicts = [trtexec.is_engine_mismatch(line) for line in lines]
        self.assertEqual(
            verdicts, [True, False, True, False, True, True, True, True, False, False, False, True]
        )
        self.assertTrue(trtexec.is_engine_mismatch(lines))  # a list of lines
        self.assertFalse(trtexec.is_engine_mismatch([lines[1], lines[-2]]))  # deserialization only

    def test_dpkg_listing(self):
        text = read("dpkg_nvinfer_jetson_nano_jp46x.txt")
        self.assertEqual(trtexec.tensorrt_version_from_dpkg(text), "8.2.1")
        r = trtexec.parse_trtexec(text)  # not a trtexec log: nothing found, nothing made up
        self.assertEqual([r[k] for k in ("tensorrt_version", "throughput_qps", "status")], [None] * 3)
        self.assertEqual(r["errors"] + r["warnings"] + r["notes"], [])

    def test_every_capture_has_its_expected_parse(self):
        names = sorted(os.listdir(CASES))
        captures = [n for n in names if n.endswith(".txt")]
        self.assertEqual(len(captures), 8)
        for name in captures:
            self.assertIn(name[:-4] + ".json", names)


class FormsWithoutCaptureTest(unittest.TestCase):
    def test_percentile_names(self):
        for name, key in (
            ("percentile(99%)", "p99_ms"),
            ("percentile(90%)", "p90_ms"),
            ("percentile: 99%", "p99_ms"),
            ("99th percentile", "p99_ms"),
            ("95% percentile", "p95_ms"),
            ("percentile(99.0%)", "p99_ms"),
            ("percentile(99.9%)", "p99.9_ms"),
            ("P50", "p50_ms"),
            ("median", "median_ms"),
            ("average", None),
        ):
            self.assertEqual(trtexec.stat_key(name), key, name)

    def test_fractional_percentile_and_units(self):
        r = trtexec.parse_trtexec(
            log(
                "Latency: min = 1500 us, max = 0.002 s, mean = 1.75 ms, median = 1.7 ms, "
                "percentile(99.9%) = 1990 us, percentile(50%) = 1.7 ms"
            )
        )
        self.assertEqual(
            r["latency"],
            {
                "min_ms": 1.5,
                "max_ms": 2.0,
                "mean_ms": 1.75,
                "median_ms": 1.7,
                "p50_ms": 1.7,
                "p99.9_ms": 1.99,
            },
        )
        self.assertEqual(list(r["latency"])[4:], ["p50_ms", "p99.9_ms"])

    def test_unreadable_numbers_are_null_and_reported(self):
        r = trtexec.parse_trtexec(
            "&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec\n"
            + log(
                "Throughput: -nan qps",
                "GPU Compute Time: min = nan ms, max = 2 ms, mean = 1.5, median = 1.4 ms, "
                "percentile(99%) = 1.9 ms, spread = 3 ms",
            )
        )
        self.assertEqual(r["tensorrt_version"], "8.6.1")
        self.assertIsNone(r["throughput_qps"])
        gpu = r["gpu_compute_time"]
        self.assertEqual(row(gpu), (None, 2.0, None, 1.4))
        self.assertEqual(gpu["p99_ms"], 1.9)
        self.assertEqual([w["line"] for w in r["warnings"]], [2, 3, 3, 3])
        messages = " | ".join(w["message"] for w in r["warnings"])
        for needle in ("'-nan'", "'nan ms'", "no unit in '1.5'", "'spread = 3 ms'"):
            self.assertIn(needle, messages)

    def test_verbose_explanations_are_not_figures(self):
        r = trtexec.parse_trtexec(
            "[01/01/2024-00:00:00] [V] Latency: the summation of H2D Latency, GPU Compute Time, "
            "and D2H Latency.\n"
            "[01/01/2024-00:00:00] [V] Throughput: the observed throughput computed by dividing "
            "the number of queries by the Total Host Walltime.\n"
        )
        self.assertIsNone(r["latency"])
        self.assertIsNone(r["throughput_qps"])
        self.assertEqual(r["warnings"] + r["errors"], [])

    def test_second_summary_keeps_the_later_one(self):
        r = trtexec.parse_trtexec(
            log(
                "Throughput: 10 qps",
                "Latency: min = 1 ms, max = 2 ms, mean = 1.5 ms, median = 1.5 ms",
                "Throughput: 20 qps",
                "Latency: min = 3 ms, max = 4 ms, mean = 3.5 ms, median = 3.5 ms",
            )
        )
        self.assertEqual(r["throughput_qps"], 20.0)
        self.assertEqual(r["latency"]["min_ms"], 3.0)
        self.assertEqual([n["line"] for n in r["notes"]], [3, 4])

    def test_version_line_wins_over_banner_and_trt10_encoding(self):
        text = "&&&& RUNNING TensorRT.trtexec [TensorRT v100400] [b26] # trtexec\n" + log(
            "TensorRT version: 10.4.0"
        )
        self.assertEqual(trtexec.parse_trtexec(text)["tensorrt_version"], "10.4.0")
        self.assertEqual(trtexec.parse_trtexec(log("TensorRT version: 8601"))["tensorrt_version"], "8.6.1")
        bad = trtexec.parse_trtexec(log("TensorRT version: unknown"))
        self.assertIsNone(bad["tensorrt_version"])
        self.assertEqual(bad["warnings"][0]["line"], 1)

    def test_trt10_version_tag_mismatch_and_other_errors(self):
        # TensorRT 10 words a version mismatch differently (public notes; no capture here)
        line = (
            "[TRT] [E] IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization "
            "assertion stdVersionRead == kSERIALIZATION_VERSION failed.Version tag does not match. "
            "Note: Current Version: 236, Serialized Engine Version: 239)"
        )
        self.assertTrue(trtexec.is_engine_mismatch(line))
        r = trtexec.parse_trtexec(log("Engine set up failed").replace("[I]", "[E]"))
        self.assertEqual(r["errors"], [{"line": 1, "kind": "error", "message": "Engine set up failed"}])
        self.assertFalse(trtexec.is_engine_mismatch(r["errors"]))
        # [W] and [I] lines are never errors, whatever they say
        quiet = "[W] [TRT] Using an engine plan file across different models of devices is not recommended\n"
        self.assertEqual(trtexec.parse_trtexec(quiet)["errors"], [])

    def test_empty_text(self):
        r = trtexec.parse_trtexec("")
        self.assertEqual(sorted(r), sorted(trtexec.RESULT_KEYS))
        for section in trtexec.SECTIONS:
            self.assertIsNone(r[section])
        self.assertFalse(trtexec.is_engine_mismatch(""))

    def test_dpkg_variants(self):
        self.assertEqual(
            trtexec.tensorrt_version_from_dpkg(
                "ii  tensorrt         10.3.0.30-1+cuda12.5   arm64  Meta package\n"
                "ii  libnvinfer10:arm64 10.3.0.30-1+cuda12.5 arm64  TensorRT runtime libraries\n"
            ),
            "10.3.0",
        )
        meta_only = "ii  tensorrt   8.2.1.9-1+cuda10.2   arm64   Meta package of TensorRT\n"
        self.assertEqual(trtexec.tensorrt_version_from_dpkg(meta_only), "8.2.1")
        removed = "rc  libnvinfer8   8.0.1-1+cuda10.2   arm64   TensorRT runtime libraries\n"
        self.assertIsNone(trtexec.tensorrt_version_from_dpkg(removed))
        self.assertIsNone(trtexec.tensorrt_version_from_dpkg(""))


if __name__ == "__main__":
    unittest.main()
