"""Seeded input tensors built from a model's declared inputs.

Dynamic dimensions: the first one is the batch (`batch`); any other must be given by the
user as a shape override (`--shape name=1x3x32x32`).
"""

# ONNX Runtime's type strings -> numpy dtype names.
ONNX_TO_NUMPY = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


class InputSpecError(ValueError):
    """The model's inputs cannot be fed with the settings given."""


def _declared_text(declared):
    return "x".join(str(d) if isinstance(d, int) and d > 0 else "N" for d in declared)


def _checked_override(name, declared, batch, override):
    """An override gives the whole shape; its first dimension is the batch and must be it."""
    shape = [int(d) for d in override]
    if len(shape) != len(declared):
        raise InputSpecError(
            "input %r has %d dimensions (%s), --shape gave %d"
            % (name, len(declared), _declared_text(declared), len(shape))
        )
    if shape and shape[0] != batch:
        raise InputSpecError(
            "--shape %s=%s sets batch %d but the trial's batch is %d (the first dimension is the batch)"
            % (name, "x".join(map(str, shape)), shape[0], batch)
        )
    for position, (dim, given) in enumerate(zip(declared, shape)):
        if isinstance(dim, int) and dim > 0 and dim != given:
            raise InputSpecError(
                "input %r has fixed size %d at position %d; --shape gave %d" % (name, dim, position, given)
            )
    return shape


def check_override_names(names, overrides):
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise InputSpecError(
            "--shape names %s, but the model's inputs are: %s"
            % (", ".join(unknown), ", ".join(names) or "(none)")
        )


def resolve_shape(name, declared, batch, overrides):
    if name in overrides:
        return _checked_override(name, declared, batch, overrides[name])
    shape = []
    for position, dim in enumerate(declared):
        if isinstance(dim, int) and dim > 0:
            if position == 0 and dim != batch:
                raise InputSpecError(
                    "input %r has a fixed batch of %d; cannot run batch %d" % (name, dim, batch)
                )
            shape.append(dim)
        elif position == 0:
            shape.append(batch)
        else:
            raise InputSpecError(
                "input %r has dynamic dimension %r at position %d; give --shape %s=%s"
                % (name, dim, position, name, _declared_text(declared))
            )
    return shape


def resolve_shapes(specs, batch, overrides):
    """specs: (name, declared shape) pairs. Checks everything before any tensor is made."""
    check_override_names([name for name, _ in specs], overrides)
    return [resolve_shape(name, declared, batch, overrides) for name, declared in specs]


def make_feed(specs, batch, overrides, seed):
    """specs: list of (name, onnx type string, declared shape). Returns {name: ndarray}."""
    import numpy  # lazily: the null backend runs without it

    rng = numpy.random.RandomState(seed)  # RandomState: present in the old numpy of JetPack 4.6
    shapes = resolve_shapes([(name, declared) for name, _, declared in specs], batch, overrides)
    feed = {}
    for (name, type_str, _declared), shape in zip(specs, shapes):
        dtype = ONNX_TO_NUMPY.get(type_str)
        if dtype is None:
            raise InputSpecError("input %r has unsupported type %s" % (name, type_str))
        if dtype == "bool":
            feed[name] = rng.randint(0, 2, size=shape).astype("bool")
        elif dtype.startswith(("int", "uint")):
            feed[name] = rng.randint(0, 10, size=shape).astype(dtype)
        else:
            feed[name] = rng.standard_normal(size=shape).astype(dtype)
    return feed


def feed_sha256(feed):
    """One digest of a whole feed (names, dtypes, shapes, bytes): the host rebuilds the same
    seeded feed and compares digests before it compares outputs."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(feed):
        array = feed[name]
        digest.update(("%s|%s|%s|" % (name, array.dtype.str, list(array.shape))).encode("utf-8"))
        digest.update(array.tobytes())
    return digest.hexdigest()
