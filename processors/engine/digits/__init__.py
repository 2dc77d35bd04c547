"""``digits``: the built-in demo model that draws handwritten digits on a CPU."""

from pathlib import Path

#: The committed weights (``diffstream train-demo-model`` writes them again).
PACKAGED_WEIGHTS = Path(__file__).parent / "model"
