"""Seeded input tensors built from a model's declared inputs.

Dynamic dimensions: the first one is the batch (`batch`); any other must be given by the
user as a shape override (`--shape name=1x3x32x32`).
"""

# ONNX Runtime's type strings -> numpy dtype names.
ONNX_TO_NUMPY = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16",
    "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool",
}


class InputSpecError(ValueError):
    """The model's inputs cannot be fed with the settings given."""


def resolve_shape(name, declared, batch, overrides):
    if name in overrides:
        shape = [int(d) for d in overrides[name]]
        if len(shape) != len(declared):
            raise InputSpecError("input %r has %d dimensions, --shape gave %d" % (name, len(declared), len(shape)))
        return shape
    shape = []
    for position, dim in enumerate(declared):
        if isinstance(dim, int) and dim > 0:
            if position == 0 and dim != batch:
                raise InputSpecError("input %r has a fixed batch of %d; cannot run batch %d" % (name, dim, batch))
            shape.append(dim)
        elif position == 0:
            shape.append(batch)
        else:
            raise InputSpecError("input %r has dynamic dimension %r at position %d; give --shape %s=%s"
                                 % (name, dim, position, name, "x".join(str(d if isinstance(d, int) else "N") for d in declared)))
    return shape


def make_feed(specs, batch, overrides, seed):
    """specs: list of (name, onnx type string, declared shape). Returns {name: ndarray}."""
    import numpy  # lazily: the null backend runs without it
    rng = numpy.random.RandomState(seed)  # RandomState: present in the old numpy of JetPack 4.6
    feed = {}
    for name, type_str, declared in specs:
        dtype = ONNX_TO_NUMPY.get(type_str)
        if dtype is None:
            raise InputSpecError("input %r has unsupported type %s" % (name, type_str))
        shape = resolve_shape(name, declared, batch, overrides)
        if dtype == "bool":
            feed[name] = rng.randint(0, 2, size=shape).astype("bool")
        elif dtype.startswith(("int", "uint")):
            feed[name] = rng.randint(0, 10, size=shape).astype(dtype)
        else:
            feed[name] = rng.standard_normal(size=shape).astype(dtype)
    return feed
