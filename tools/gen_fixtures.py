#!/usr/bin/env python3
"""Writes the golden fixtures under test/fixtures from PyTorch/torchvision (Debian python3-torch,
python3-torchvision). Run with /usr/bin/python3 tools/gen_fixtures.py [family ...]; the files are committed.

Each family lives in tools/fixtures_<family>.py with a function build(Writer)."""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixturelib import Writer  # noqa: E402

FAMILIES = sorted(
    f[len("fixtures_") : -3]
    for f in os.listdir(os.path.dirname(os.path.abspath(__file__)))
    if f.startswith("fixtures_") and f.endswith(".py")
)


def main(argv):
    families = argv or FAMILIES
    for family in families:
        if family not in FAMILIES:
            sys.exit(f"gen_fixtures: unknown family {family!r}; known: {', '.join(FAMILIES)}")
        module = importlib.import_module(f"fixtures_{family}")
        w = Writer(family)
        module.build(w)
        w.write()


if __name__ == "__main__":
    main(sys.argv[1:])
