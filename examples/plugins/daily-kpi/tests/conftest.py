"""Lets the tests import the plugin's own modules, as the sandbox does."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
