import json
import unittest

from agent import protocol
from agent.protocol import ProtocolError, decode, decode_record, encode, make_record


class ProtocolTest(unittest.TestCase):
    def test_round_trip(self):
        record = make_record(
            "result",
            trial_id="abc",
            metrics={"latency_p50_ms": 1.25, "x": None},
            samples_ms=[1.0, 2.5],
            note="two\nlines",
        )
        line = encode(record)
        self.assertTrue(line.endswith("\n"))
        self.assertEqual(line.count("\n"), 1)  # one record, one line
        self.assertEqual(decode_record(line), record)
        self.assertEqual(record["v"], protocol.PROTOCOL_VERSION)
        self.assertEqual(record["type"], "result")

    def test_every_record_type_round_trips(self):
        for record_type in protocol.RECORD_TYPES:
            record = make_record(record_type, trial_id=None)
            self.assertEqual(decode_record(encode(record)), record)

    def test_unknown_record_type_is_refused(self):
        with self.assertRaises(ValueError):
            make_record("bogus")
        with self.assertRaises(ProtocolError):
            decode_record(json.dumps({"v": protocol.PROTOCOL_VERSION, "type": "bogus"}))

    def test_version_mismatch(self):
        with self.assertRaises(ProtocolError) as ctx:
            decode_record(json.dumps({"v": protocol.PROTOCOL_VERSION + 1, "type": "hello"}))
        self.assertIn("version", str(ctx.exception))
        with self.assertRaises(ProtocolError):
            decode_record(json.dumps({"type": "hello"}))

    def test_not_json(self):
        for bad in ("not json", "{", "", "{'v': 1}"):
            with self.assertRaises(ProtocolError, msg=repr(bad)):
                decode(bad)
        for not_object in ("[1, 2]", "3", '"s"', "null"):
            with self.assertRaises(ProtocolError, msg=repr(not_object)):
                decode(not_object)
        self.assertTrue(issubclass(ProtocolError, ValueError))

    def test_requests_need_no_version(self):
        self.assertEqual(decode('{"op": "ping"}'), {"op": "ping"})

    def test_nan_and_infinity_are_refused(self):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with self.assertRaises(ValueError):
                encode(make_record("result", metrics={"latency_p50_ms": bad}))


if __name__ == "__main__":
    unittest.main()
