"""Fake trtexec (run through fake_trt.write_trtexec): builds the engine with the fake `tensorrt`
of $EDGEBENCH_FAKE_TRT ("8.2" or "10") on the fake GPU of $EDGEBENCH_FAKE_GPU, writes it to
--saveEngine, then prints a trtexec log recorded on a real device of that version
(tests/fixtures/parsers/trtexec/) in place of its own benchmark.

Options, as the real trtexec of each version takes them: 8.2 has --workspace=N (MiB),
--explicitBatch and --buildOnly, and no --memPoolSize (8.4); 10.x has --memPoolSize=workspace:N
and --skipInference, and rejects the three 8.x options with `[E] Unknown option: NAME VALUE`
lines and `&&&& FAILED` (recorded in trtexec_trt100300_jetson_unknown_option_error.txt).
"""

import os
import sys
import time

from tests.agent import fake_trt
from tests.agent.fake_trt import fakegpu

RECORDED = {
    "8.2": "trtexec_trt8201_jetson_nano_full.txt",
    "10": "trtexec_trt100300_jetson_jp6_nodatatransfers_summary.txt",
}
BANNER = {"8.2": "8201", "10": "100300"}
COMMON = ("--onnx", "--saveEngine", "--fp16", "--int8", "--calib", "--verbose")
SHAPES = ("--minShapes", "--optShapes", "--maxShapes", "--shapes")
KNOWN = {
    "8.2": COMMON + SHAPES + ("--workspace", "--explicitBatch", "--buildOnly"),
    "10": COMMON + SHAPES + ("--memPoolSize", "--skipInference"),
}


def stamp():
    return time.strftime("[%m/%d/%Y-%H:%M:%S]")


def read_args(argv):
    """[(name, value)]: `--name=value` or a flag `--name` (value "")."""
    return [tuple(a.split("=", 1)) if "=" in a else (a, "") for a in argv]


def read_shapes(text):
    """trtexec's `name:AxB,other:CxD` (a name quoted when it holds ':' or ',')."""
    shapes = {}
    for item in text.split(","):
        name, dims = item.rsplit(":", 1)
        shapes[name.strip("'")] = tuple(int(d) for d in dims.split("x"))
    return shapes


def fail(version, lines):
    for line in lines:
        print("%s [E] %s" % (stamp(), line))
    print(
        "&&&& FAILED TensorRT.trtexec [TensorRT v%s] # trtexec %s" % (BANNER[version], " ".join(sys.argv[1:]))
    )
    return 1


def make_calibrator(trt, path):
    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            return None

        def read_calibration_cache(self):
            with open(path, "rb") as f:
                return f.read()

        def write_calibration_cache(self, cache):
            pass

    return Calibrator()


def configure(trt, version, builder, args):
    config = builder.create_builder_config()
    if "--workspace" in args:
        config.max_workspace_size = int(args["--workspace"]) << 20
    if "--memPoolSize" in args:
        pool, size = args["--memPoolSize"].split(":")
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(float(size.rstrip("M"))) << 20)
    if "--fp16" in args:
        config.set_flag(trt.BuilderFlag.FP16)
    if "--int8" in args:
        config.set_flag(trt.BuilderFlag.INT8)
        if args.get("--calib"):
            config.int8_calibrator = make_calibrator(trt, args["--calib"])
    if "--minShapes" in args:
        low, opt, high = (read_shapes(args[flag]) for flag in SHAPES[:3])
        profile = builder.create_optimization_profile()
        for name in low:
            profile.set_shape(name, low[name], opt[name], high[name])
        config.add_optimization_profile(profile)
    return config


def build(trt, version, args):
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0 if version == "10" else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(args["--onnx"]):
        return None, [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = configure(trt, version, builder, args)
    serialized = builder.build_serialized_network(network, config)
    return serialized, ["Engine could not be created from network", "Building engine failed"]


def main():
    version = os.environ[fake_trt.VERSION_ENV]
    pairs = read_args(sys.argv[1:])
    unknown = [(name, value) for name, value in pairs if name not in KNOWN[version]]
    if unknown:
        return fail(version, ["Unknown option: %s %s" % pair for pair in unknown])
    args = dict(pairs)
    fakegpu.configure_from_env()
    trt = fake_trt.load_tensorrt(version)
    trt.__version__ = os.environ.get(fake_trt.LIBRARY_VERSION_ENV) or trt.__version__
    serialized, errors = build(trt, version, args)
    if serialized is None:
        return fail(version, errors)
    with open(args["--saveEngine"], "wb") as f:
        f.write(serialized)
    sys.stdout.write(fake_trt.fixture(RECORDED[version]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
