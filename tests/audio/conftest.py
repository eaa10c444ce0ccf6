import sys
from pathlib import Path

# room_support.py lives beside these tests; make it importable without a package.
sys.path.insert(0, str(Path(__file__).parent))
