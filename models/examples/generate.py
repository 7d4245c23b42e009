"""Generate edgebench's two reference ONNX image classifiers, with model cards.

Both models take CIFAR-10 shaped input (N x 3 x 32 x 32, float32) and return
10 logits. Their weights are random (seeded Kaiming init), not trained: they
exist to benchmark latency and memory of two architectures on edge devices.

    python models/examples/generate.py [--out DIR] [--seed N]

Only numpy and onnx.helper are used (no torch), and nothing in the output
depends on time or platform, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# TensorRT 8.2 (JetPack 4.6, the last release for Jetson Nano) parses up to opset 13.
OPSET = 13
# IR 7 is the IR that shipped with opset 13; older onnxruntime builds on devices load it.
IR_VERSION = 7
PRODUCER_NAME = "edgebench-models"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
IN_CHANNELS, IMAGE_SIZE, NUM_CLASSES = 3, 32, 10
DEFAULT_SEED = 0


class GraphBuilder:
    """Appends layers to a sequential graph, tracking shape so MACs are counted as it goes."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: List[onnx.NodeProto] = []
        self.initializers: List[onnx.TensorProto] = []
        self.macs = 0
        self.tensor = INPUT_NAME
        self.channels = IN_CHANNELS
        self.size = IMAGE_SIZE
        # E[x^2] of the current tensor under the init; input images are assumed standardised.
        self.second_moment = 1.0
        self.conv_output_variance = 1.0

    def _add_initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def _add_node(self, op: str, name: str, inputs: List[str], output: str = "", **attrs) -> None:
        output = output or f"{name}.out"
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        self.tensor = output

    def conv(self, name: str, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        # No bias: the BatchNormalization that follows every conv supplies the shift.
        in_per_group = self.channels // groups
        weight, std = kaiming_normal_fan_out(self.rng, (out_channels, in_per_group, kernel, kernel))
        self.conv_output_variance = in_per_group * kernel * kernel * std**2 * self.second_moment
        pad = kernel // 2
        self._add_node(
            "Conv",
            name,
            [self.tensor, self._add_initializer(f"{name}.weight", weight)],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
        )
        self.size = (self.size + 2 * pad - kernel) // stride + 1
        self.macs += self.size * self.size * out_channels * in_per_group * kernel * kernel
        self.channels = out_channels

    def batch_norm(self, name: str) -> None:
        scale, bias, mean, var = batch_norm_parameters(self.rng, self.channels, self.conv_output_variance)
        inputs = [self.tensor] + [
            self._add_initializer(f"{name}.{part}", array)
            for part, array in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var))
        ]
        self._add_node("BatchNormalization", name, inputs, epsilon=1e-5)
        self.second_moment = 1.0

    def relu(self, name: str) -> None:
        self._add_node("Relu", name, [self.tensor])
        self.second_moment /= 2  # Relu keeps half of a zero-mean symmetric signal's energy.

    def conv_bn_relu(
        self, name: str, out_channels: int, kernel: int, stride: int = 1, groups: int = 1
    ) -> None:
        self.conv(f"{name}.conv", out_channels, kernel, stride, groups)
        self.batch_norm(f"{name}.bn")
        self.relu(f"{name}.relu")

    def depthwise_separable(self, name: str, out_channels: int, stride: int) -> None:
        # group == channels makes each 3x3 filter see one channel; the 1x1 then mixes channels.
        self.conv_bn_relu(f"{name}.dw", self.channels, kernel=3, stride=stride, groups=self.channels)
        self.conv_bn_relu(f"{name}.pw", out_channels, kernel=1)

    def max_pool(self, name: str) -> None:
        self._add_node("MaxPool", name, [self.tensor], kernel_shape=[2, 2], strides=[2, 2])
        self.size //= 2
        # MaxPool raises E[x^2] somewhat; left out, as BN stats only need the right magnitude.

    def classifier(self, num_classes: int) -> None:
        self._add_node("GlobalAveragePool", "head.pool", [self.tensor])
        self._add_node("Flatten", "head.flatten", [self.tensor], axis=1)
        weight = self.rng.normal(0.0, 0.01, size=(num_classes, self.channels))
        bias = np.zeros(num_classes)
        inputs = [
            self.tensor,
            self._add_initializer("head.fc.weight", weight),
            self._add_initializer("head.fc.bias", bias),
        ]
        self._add_node("Gemm", "head.fc", inputs, output=OUTPUT_NAME, transB=1)
        self.macs += self.channels * num_classes
        self.channels = num_classes

    @property
    def params(self) -> int:
        return sum(int(np.prod(t.dims)) for t in self.initializers)


def kaiming_normal_fan_out(rng: np.random.Generator, shape: tuple) -> tuple:
    # Same rule as torch.nn.init.kaiming_normal_(mode="fan_out", nonlinearity="relu"),
    # including its fan_out = shape[0] * kh * kw for depthwise convs.
    out_channels, _, kh, kw = shape
    std = float(np.sqrt(2.0 / (out_channels * kh * kw)))
    return rng.normal(0.0, std, size=shape), std


def batch_norm_parameters(rng: np.random.Generator, channels: int, expected_variance: float) -> tuple:
    # gamma=1 and beta=0 as in a fresh BN. The running stats are not the fresh 0 and 1:
    # fan_out init makes a depthwise conv shrink the signal's variance by ~2/C, and with
    # var=1 the untrained dws model's logits came out the same for every input. So the
    # running variance is the variance this conv's output has under the init (as if BN
    # had been calibrated on standardised images), and both stats get seeded noise so
    # BN is not a no-op. Scalars only, so no float summation order can change the bytes.
    scale = np.ones(channels)
    bias = np.zeros(channels)
    std = np.sqrt(expected_variance)
    mean = rng.normal(0.0, 0.1 * std, size=channels)
    var = expected_variance * rng.uniform(0.8, 1.2, size=channels)
    return scale, bias, mean, var


def build_dws_cnn(builder: GraphBuilder) -> None:
    """MobileNet-v1 style: stem conv, then depthwise-separable blocks down to 4x4."""
    builder.conv_bn_relu("stem", 32, kernel=3)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]
    for index, (out_channels, stride) in enumerate(blocks, start=1):
        builder.depthwise_separable(f"block{index}", out_channels, stride)
    builder.classifier(NUM_CLASSES)


def build_baseline_cnn(builder: GraphBuilder) -> None:
    """VGG style: plain 3x3 convs in stages, MaxPool between stages, down to 4x4."""
    stages = [[64, 64], [128, 128], [256, 256], [512]]
    for stage_index, widths in enumerate(stages, start=1):
        if stage_index > 1:
            builder.max_pool(f"stage{stage_index}.pool")
        for conv_index, out_channels in enumerate(widths, start=1):
            builder.conv_bn_relu(f"stage{stage_index}.conv{conv_index}", out_channels, kernel=3)
    builder.classifier(NUM_CLASSES)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    architecture: str
    build: Callable[[GraphBuilder], None]


MODEL_SPECS = [
    ModelSpec(
        name="dws_cnn",
        summary="Lightweight CNN built from depthwise-separable convolutions (MobileNet-v1 style).",
        architecture=(
            "Stem Conv 3x3 3->32 (stride 1) + BatchNormalization + Relu, then 7 depthwise-separable "
            "blocks, each a depthwise Conv 3x3 (group = channels) + BN + Relu followed by a pointwise "
            "Conv 1x1 + BN + Relu. Output channels 64, 128, 128, 256, 256, 512, 512; blocks 2, 4 and 6 "
            "use stride 2 in the depthwise conv (32x32 -> 16x16 -> 8x8 -> 4x4). "
            "Head: GlobalAveragePool, Flatten, Gemm 512->10."
        ),
        build=build_dws_cnn,
    ),
    ModelSpec(
        name="baseline_cnn",
        summary="Larger conventional baseline: VGG-style plain 3x3 convolutions.",
        architecture=(
            "Four stages of plain Conv 3x3 (stride 1, no grouping) + BatchNormalization + Relu with "
            "channels [64, 64], [128, 128], [256, 256], [512], and a 2x2 MaxPool before stages 2-4 "
            "(32x32 -> 16x16 -> 8x8 -> 4x4). Head: GlobalAveragePool, Flatten, Gemm 512->10."
        ),
        build=build_baseline_cnn,
    ),
]


@dataclass(frozen=True)
class GeneratedModel:
    spec: ModelSpec
    model: onnx.ModelProto
    params: int
    macs: int


def generate_model(spec: ModelSpec, seed: int) -> GeneratedModel:
    # Each model's generator is keyed by its name, so adding or reordering models
    # leaves the other models' weights unchanged.
    builder = GraphBuilder(np.random.default_rng([seed, zlib.crc32(spec.name.encode())]))
    spec.build(builder)
    model = assemble_model(spec, builder, seed)
    onnx.checker.check_model(model, full_check=True)
    return GeneratedModel(spec, model, builder.params, builder.macs)


def assemble_model(spec: ModelSpec, builder: GraphBuilder, seed: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        builder.nodes,
        spec.name,
        inputs=[
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", IN_CHANNELS, IMAGE_SIZE, IMAGE_SIZE]
            )
        ],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", NUM_CLASSES])],
        initializer=builder.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name=PRODUCER_NAME,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=spec.summary + " Untrained: random weights, for latency/memory benchmarking.",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model,
        {
            "edgebench.params": str(builder.params),
            "edgebench.description": spec.summary,
            "edgebench.recipe": f"models/examples/generate.py seed={seed}",
        },
    )
    return model


def write_model(generated: GeneratedModel, out_dir: Path, seed: int) -> Path:
    path = out_dir / f"{generated.spec.name}.onnx"
    path.write_bytes(generated.model.SerializeToString())
    card = render_card(generated, path.stat().st_size, sha256_of(path), seed)
    (out_dir / f"{generated.spec.name}.md").write_text(card, encoding="utf-8")
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render_card(generated: GeneratedModel, size_bytes: int, sha256: str, seed: int) -> str:
    spec = generated.spec
    seed_flag = "" if seed == DEFAULT_SEED else f" --seed {seed}"
    return f"""# {spec.name}

{spec.summary}

**Untrained.** The weights are random (seeded Kaiming-normal init). This model exists to
benchmark latency and memory of the architecture on edge devices; its predictions are
meaningless. Trained variants come from the model pipeline later.

## Architecture

{spec.architecture}

Every Conv is followed by BatchNormalization (kept as separate nodes; runtimes usually fold
them into the Conv) and has no bias of its own.

## Input

- name: `{INPUT_NAME}`
- dtype: float32
- shape: `[batch, {IN_CHANNELS}, {IMAGE_SIZE}, {IMAGE_SIZE}]` (NCHW), `batch` is dynamic (dim_param "batch")

## Output

- name: `{OUTPUT_NAME}`
- dtype: float32
- shape: `[batch, {NUM_CLASSES}]`, `batch` is dynamic; raw class scores (no softmax)

## Numbers

| | |
|---|---|
| parameters | {generated.params:,} ({generated.params / 1e6:.3f} M) |
| MACs per image | {generated.macs:,} ({generated.macs / 1e6:.1f} M) |
| file size | {size_bytes:,} bytes ({size_bytes / 2**20:.2f} MiB) |
| sha256 | `{sha256}` |
| dataset | none: untrained, random Kaiming-initialised weights |
| accuracy | not measured |

Parameters count every initializer element: Conv and Gemm weights, the Gemm bias, and the
BatchNormalization scale, bias, running mean and running variance.
MACs count multiply-accumulates of the Conv and Gemm layers for one 3x32x32 image;
BatchNormalization, Relu, pooling and the Gemm bias are left out.

## How it was made

- command: `python models/examples/generate.py{seed_flag}`
- seed: {seed}
- opset: {OPSET}, IR version: {IR_VERSION}, producer: `{PRODUCER_NAME}`
- weights: convs Kaiming normal (fan_out, relu; for depthwise convs fan_out = channels x 3 x 3,
  as in PyTorch); Gemm weight ~ N(0, 0.01), bias 0; BatchNormalization gamma=1, beta=0,
  and running stats set as if calibrated: running var = v x U(0.8, 1.2) and
  running mean ~ N(0, (0.1 sqrt(v))^2), where v is the variance the preceding Conv's output
  has under this init for standardised input (without that, fan_out init shrinks the signal
  at each depthwise conv until the logits no longer depend on the input)
- the script is deterministic: the same seed gives byte-identical files
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate edgebench's reference ONNX models and their cards."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder for the .onnx files and .md cards (default: this script's folder)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed for the random weights (default: 0)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in MODEL_SPECS:
        generated = generate_model(spec, args.seed)
        path = write_model(generated, args.out, args.seed)
        size_mib = path.stat().st_size / 2**20
        print(f"{spec.name}: {generated.params:,} params, {size_mib:.2f} MiB, sha256 {sha256_of(path)[:12]}")


if __name__ == "__main__":
    main()
