"""edgebench agent: the device side. Standard library only, Python >= 3.6.

Runs on the board (Jetson Nano's JetPack 4.6 ships Python 3.6.9), shipped by the host as one
zipapp named by its content hash. Runtimes (onnxruntime, numpy, ...) are imported lazily, only
when a trial asks for them. Every module here uses relative imports so the package works both
as `edgebench.agent` on the host and as a top-level package inside the zipapp.
"""

AGENT_VERSION = "0.1.0"
