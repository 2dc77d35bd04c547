"""Engine settings live in the one settings model (``Settings.engine``); re-exported here.

Environment names: ``DIFFSTREAM_ENGINE__DEVICE``, ``DIFFSTREAM_ENGINE__DTYPE`` and so on.
"""

from diffstream.settings import DeviceChoice, DtypeChoice, EngineSettings

__all__ = ["DeviceChoice", "DtypeChoice", "EngineSettings"]
