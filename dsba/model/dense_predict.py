"""XGBoost's own C predict call for a float32 matrix, without the per-call work around it.

Booster.inplace_predict spends about 45 µs in Python (input type checks, an import, a class
built per call, JSON-encoded arguments) and, in C, builds a proxy matrix whose constructor
reads the cgroup CPU quota from /sys (five file system calls) on every call. Scoring one row
of a small model takes a few µs, and the web workers score single rows all day: they call the
same C function, XGBoosterPredictFromDense, with arguments encoded once and a proxy kept per
thread (measured: 93 µs per call down to 28 µs). If this XGBoost lacks the pieces used here,
everything goes through inplace_predict as before. A linear booster has no inplace predict at
all: it goes through a DMatrix of its encoded inputs (dsba.model.linear).
"""

from __future__ import annotations

import ctypes
import json
import math
import threading
from typing import Any

import numpy as np
import xgboost as xgb

from dsba.model.linear import predict_linear

try:
    from xgboost.core import _LIB, _check_call, _ProxyDMatrix

    _LIB.XGBoosterPredictFromDense  # noqa: B018 - present since XGBoost 1.5
except (ImportError, AttributeError):  # pragma: no cover - another XGBoost layout
    _LIB = _check_call = _ProxyDMatrix = None

# Probabilities for every round, no margin, NaN as missing: what inplace_predict sends.
_ARGS = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


# The array interface XGBoost reads for a C-ordered float32 matrix (address, rows, columns),
# filled in per call: json.dumps of the same dict cost ~8 µs.
_INTERFACE = (
    b'{"data": [%d, true], "shape": [%d, %d], "strides": null, "typestr": "<f4", "version": 3}'
)

_local = threading.local()


def _proxy() -> _ProxyDMatrix:
    """This thread's proxy matrix: each call points it at new data, so threads never share one."""
    proxy = getattr(_local, "proxy", None)
    if proxy is None:
        proxy = _local.proxy = _ProxyDMatrix()
    return proxy


def _direct(x: object) -> bool:
    return (
        _LIB is not None
        and isinstance(x, np.ndarray)
        and x.dtype == np.float32
        and x.ndim == 2
        and x.flags.c_contiguous
    )


def predict(
    booster: xgb.Booster, x: object, linear: dict[str, Any] | None = None, threads: int = 0
) -> np.ndarray:
    """What booster.inplace_predict(x) returns; C-ordered 2-D float32 arrays skip the wrapper.

    linear is the schema's linear encoding when the booster is a linear one (else None);
    threads then bounds the threads that build its DMatrix (0: all).
    """
    if linear is not None:
        return predict_linear(booster, linear, x, threads)
    if not _direct(x):
        return booster.inplace_predict(x)
    interface = _INTERFACE % (x.ctypes.data, *x.shape)
    shape = ctypes.POINTER(ctypes.c_uint64)()
    dims = ctypes.c_uint64()
    result = ctypes.POINTER(ctypes.c_float)()
    _check_call(
        _LIB.XGBoosterPredictFromDense(
            booster.handle,
            interface,
            _ARGS,
            _proxy().handle,
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(result),
        )
    )
    out_shape = tuple(shape[: dims.value])
    # The result lives in a buffer XGBoost reuses on the next call from this thread: copy it
    # (np.ctypeslib.as_array builds an array interface per call, ~10 µs; this reads in place).
    size = math.prod(out_shape)
    if size == 0:
        return np.zeros(out_shape, dtype=np.float32)
    buffer = (ctypes.c_float * size).from_address(ctypes.addressof(result.contents))
    return np.frombuffer(buffer, dtype=np.float32, count=size).reshape(out_shape).copy()
