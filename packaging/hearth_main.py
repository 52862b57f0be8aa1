"""The bundle's entry point: the same `main` as `hearth` from a source install."""

import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
