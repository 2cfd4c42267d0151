"""python -m tests.simulator, from the repository root: starts the simulator kept in src/exoscale_ai_simulator."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from exoscale_ai_simulator.__main__ import main  # noqa: E402  pylint: disable=wrong-import-position

main()
