"""Data-driven parser tests, as pyinfra tests its facts: every recorded device output under
tests/fixtures/parsers/<parser>/ is a case, CASE.txt the capture and CASE.json beside it the
expected parse. One subTest per case; a capture without its JSON (or a JSON without its
capture, or a folder no parser claims) fails. See tests/fixtures/parsers/README.md.

Standard library only, Python 3.6: run by pytest and by
`python3.6 -m unittest discover -s tests/agent -t .`. The host's `edgebench telemetry parse`
(orchestrator/telemetry_files.py, Python >= 3.7) is checked only where it can be imported.

To write the expected JSON of a new capture (then read it, and check it against
docs/TELEMETRY.md, before keeping it):
    .venv/bin/python -m tests.agent.test_parser_fixtures write tests/fixtures/parsers/P/CASE.txt
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

from agent import probe
from agent.telemetry import perfstat, sampler, tegrastats, trtexec, vcgencmd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARSERS_DIR = os.path.join(REPO, "tests", "fixtures", "parsers")
NOTES = ("README.md",)  # a folder's notes (where its captures come from), not a case


def _text(data):
    return data.decode("utf-8")


def _in_tree(relpath, read):
    """A reader of one file under a root: the capture becomes that file, byte for byte."""

    def run(data):
        root = tempfile.mkdtemp(prefix="edgebench-parser-")
        try:
            path = os.path.join(root, relpath)
            os.makedirs(os.path.dirname(path))
            with open(path, "wb") as f:
                f.write(data)
            return read(root)
        finally:
            shutil.rmtree(root)

    return run


def _tegrastats(data):
    records, errors = tegrastats.parse_log(_text(data))
    return {"records": records, "errors": errors}


def _vcgencmd(command):
    def run(data):
        value, reason = vcgencmd.parse(command, _text(data))
        return {"value": value, "reason": reason}

    return run


def _nv_tegra_release(data):
    return {"l4t": _in_tree("etc/nv_tegra_release", probe.l4t_release)(data)}


def _device_tree_model(data):
    # Two readers of the same file: the probe's facts and the sampler's hello.
    return {
        "probe": _in_tree("proc/device-tree/model", probe.board_model)(data),
        "sampler": _in_tree("proc/device-tree/model", sampler.board_model)(data),
    }


def _trtexec(data):
    # Every capture is read by all three readers: a trtexec log has no dpkg listing and the
    # dpkg listing no trtexec line, which the expected parse also shows.
    text = _text(data)
    return {
        "trtexec": trtexec.parse_trtexec(text),
        "engine_mismatch": trtexec.is_engine_mismatch(text),
        "dpkg_tensorrt_version": trtexec.tensorrt_version_from_dpkg(text),
    }


# folder -> function(capture bytes) -> what is compared with CASE.json (after a JSON round trip)
AGENT_PARSERS = {
    "tegrastats": _tegrastats,
    "perf_stat": lambda data: perfstat.parse_output(_text(data)),
    "vcgencmd_get_throttled": _vcgencmd("get_throttled"),
    "vcgencmd_measure_temp": _vcgencmd("measure_temp"),
    "vcgencmd_measure_clock": _vcgencmd("measure_clock arm"),
    "vcgencmd_measure_volts": _vcgencmd("measure_volts core"),
    "nv_tegra_release": _nv_tegra_release,
    "device_tree_model": _device_tree_model,
    "trtexec": _trtexec,
}


def _telemetry_parse(kind):
    """`edgebench telemetry parse --kind KIND`: a recorded log -> rows and unreadable lines."""

    def run(data):
        from edgebench.orchestrator import telemetry_files

        parsed = telemetry_files.parse_text(kind, _text(data))
        return {"rows": parsed.rows, "errors": parsed.errors}

    return run


HOST_PARSERS = {
    "telemetry_parse_tegrastats": _telemetry_parse("tegrastats"),
    "telemetry_parse_perf_stat": _telemetry_parse("perf-stat"),
    "telemetry_parse_vcgencmd": _telemetry_parse("vcgencmd"),
}


def _host_unavailable():
    """Why the host parsers cannot run here (None when they can)."""
    if sys.version_info < (3, 7):
        return "host code needs Python >= 3.7 (this is %d.%d)" % sys.version_info[:2]
    try:
        from edgebench.orchestrator import telemetry_files  # noqa: F401
    except ImportError as exc:
        return "edgebench is not installed here: %s" % exc
    return None


def cases(folder):
    """[(case name, capture path, expected path)] of one parser folder, sorted."""
    directory = os.path.join(PARSERS_DIR, folder)
    found = []
    for name in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(name)
        if name in NOTES or ext == ".json":
            continue
        found.append((stem, os.path.join(directory, name), os.path.join(directory, stem + ".json")))
    return found


def parse_case(parser, capture):
    """The parser's output for one capture, as JSON would hold it (tuples become lists)."""
    with open(capture, "rb") as f:
        data = f.read()
    return json.loads(json.dumps(parser(data)))


def dump(value):
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class ParserFixturesTest(unittest.TestCase):
    maxDiff = None

    def check_folders(self, parsers):
        for folder in sorted(parsers):
            found = cases(folder)
            self.assertTrue(found, "no case in %s" % os.path.join(PARSERS_DIR, folder))
            for name, capture, expected in found:
                with self.subTest(parser=folder, case=name):
                    self.assertTrue(
                        os.path.isfile(expected), "%s has no expected parse %s" % (capture, expected)
                    )
                    self.assertEqual(parse_case(parsers[folder], capture), _read_json(expected))

    def test_every_folder_has_a_parser_and_every_json_a_capture(self):
        known = set(AGENT_PARSERS) | set(HOST_PARSERS)
        for folder in sorted(os.listdir(PARSERS_DIR)):
            path = os.path.join(PARSERS_DIR, folder)
            if not os.path.isdir(path):
                continue
            self.assertIn(folder, known, "no parser for %s: add it to this module" % path)
            captures = set(stem for stem, _, _ in cases(folder))
            for name in os.listdir(path):
                stem, ext = os.path.splitext(name)
                if ext == ".json":
                    self.assertIn(stem, captures, "%s has no capture beside it" % os.path.join(path, name))

    def test_agent_parsers(self):
        self.check_folders(AGENT_PARSERS)

    @unittest.skipIf(_host_unavailable(), _host_unavailable())
    def test_host_parsers(self):
        self.check_folders(HOST_PARSERS)


def write_expected(paths):
    """Writes CASE.json for each capture given (its parser is its folder) and prints it."""
    parsers = dict(AGENT_PARSERS, **HOST_PARSERS)
    for path in paths:
        folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if folder not in parsers:
            raise SystemExit(
                "%s: no parser for folder %r (known: %s)" % (path, folder, ", ".join(sorted(parsers)))
            )
        text = dump(parse_case(parsers[folder], path))
        target = os.path.splitext(path)[0] + ".json"
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
        sys.stdout.write("== %s\n%s" % (target, text))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "write":
        write_expected(sys.argv[2:])
    else:
        sys.exit("usage: python -m tests.agent.test_parser_fixtures write CAPTURE...")
