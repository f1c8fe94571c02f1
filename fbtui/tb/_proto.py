"""The generated Event/Summary protobuf classes, loaded from tensorboardX without torch.

`import tensorboardX.proto.event_pb2` runs `tensorboardX/__init__.py`, which imports the
writer and with it torch (seconds, hundreds of MB). The generated modules themselves only
need protobuf, so we load them under a stand-in parent package and remove the stand-in
again: a later real `import tensorboardX` (in a trainer, in the same process) then runs
the real `__init__` and reuses these very module objects from `sys.modules`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

_lock = threading.Lock()


def _load(name: str) -> types.ModuleType:
    full = f"tensorboardX.proto.{name}"
    if full in sys.modules:
        return sys.modules[full]
    with _lock:
        if "tensorboardX" in sys.modules:  # the real package is already imported
            return importlib.import_module(full)
        spec = importlib.util.find_spec("tensorboardX")  # locates it, runs nothing
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("fbtui.tb needs the tensorboardX package (for its protobufs)")
        stub = types.ModuleType("tensorboardX")
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__spec__ = spec
        sys.modules["tensorboardX"] = stub
        try:
            return importlib.import_module(full)
        finally:
            if sys.modules.get("tensorboardX") is stub:
                del sys.modules["tensorboardX"]


event_pb2 = _load("event_pb2")
summary_pb2 = _load("summary_pb2")
tensor_pb2 = _load("tensor_pb2")

Event = event_pb2.Event
SessionLog = event_pb2.SessionLog
Summary = summary_pb2.Summary
SummaryMetadata = summary_pb2.SummaryMetadata
TensorProto = tensor_pb2.TensorProto
