"""OpenVINO: the FP32 export as IR, and NNCF post-training INT8 with or without accuracy control.

Every variant is an IR (``model.xml`` + ``model.bin``) compiled for the CPU plugin with the same
settings (see ``runtime``). Exports only: openvino and nncf are imported inside functions, so
importing the adapter costs nothing when OpenVINO is not used.
"""

from quantarena.toolchains.openvino.recipes import (
    OvAccuracyControlFacts,
    OvFp32,
    OvFp32Facts,
    OvInt8,
    OvInt8AccuracyControl,
    OvInt8Facts,
)
from quantarena.toolchains.openvino.runtime import OvSession
from quantarena.toolchains.openvino.toolchain import OpenVinoToolchain

__all__ = [
    "OpenVinoToolchain", "OvAccuracyControlFacts", "OvFp32", "OvFp32Facts", "OvInt8",
    "OvInt8AccuracyControl", "OvInt8Facts", "OvSession",
]
