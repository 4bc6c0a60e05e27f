"""Print pip constraints that pin every direct dependency of pyproject.toml to its floor.

``.ci/run`` installs the package with these in a second venv and runs the unit suite there, so
a floor that the code has outgrown fails CI instead of failing users (``name>=X`` becomes
``name==X``). Every other package keeps its pin from ``constraints.txt``, so the run is
reproducible and pip does not backtrack for an hour; if a floor needs another version of a
transitive package, the install fails and says so. Usage:
``python .ci/lowest_constraints.py [pyproject.toml [constraints.txt]]``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def floors(requirements: list[str]) -> list[str]:
    """``name==floor`` for each requirement; one without a ``>=`` floor is an error."""
    pins = []
    for requirement in requirements:
        match = _FLOOR.match(requirement.split(";")[0])
        if match is None:
            raise SystemExit(f"cannot read requirement {requirement!r}")
        name, spec = match.groups()
        lower = [part.strip()[2:].strip() for part in spec.split(",") if part.strip().startswith(">=")]
        if len(lower) != 1:
            raise SystemExit(f"{requirement!r} has no single '>=' floor: declare one")
        pins.append(f"{name}=={lower[0]}")
    return pins


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path("pyproject.toml")
    pinned = Path(argv[1]) if len(argv) > 1 else path.with_name("constraints.txt")
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    pins = floors(requirements)
    direct = {_key(pin.split("==")[0]) for pin in pins}
    for line in pinned.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and _key(line.split("==")[0]) not in direct:
            pins.append(line)
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
