"""The PL/SQL contract: which entry points ``sql/`` declares, and which ones Python calls.

Python may call the engine's PL/SQL (packages named OTASK*) only through
``cursor.callproc``/``cursor.callfunc`` with
``keyword_parameters={...}`` or through PL/SQL text written as ``pkg.name(p_x => :x)``; both are
found here and checked against the package specs (``*.pks``), so a renamed parameter or a
misspelt procedure fails the unit tests instead of failing in production.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

_COMMENT_OR_STRING = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.S)
_PACKAGE = re.compile(
    r"create\s+(?:or\s+replace\s+)?(?:(?:editionable|noneditionable)\s+)?package\s+"
    r"(?:\w+\.)?(\w+)",
    re.I,
)
_SUBPROGRAM = re.compile(r"\b(procedure|function)\s+(\w+)\s*(\(|return\b|;|\bis\b|\bas\b)", re.I)
_CALL_IN_TEXT = re.compile(r"\b((?:otask\w*))\.(\w+)\s*\(", re.I)
_PLSQL_TEXT = re.compile(r"\b(begin|declare|select|when)\b|:=", re.I)


def _is_plsql_text(text: str) -> bool:
    """SQL or PL/SQL text naming an OTASK package (not a log label like "otask.stop(42)")."""
    return "otask" in text.lower() and ("=>" in text or _PLSQL_TEXT.search(text) is not None)


_EXCEPTION_IN_TEXT = re.compile(r"\b(?:when|or|raise)\s+(otask\w*)\.(\w+)\b", re.I)
_NAMED_ARGUMENT = re.compile(r"\b(\w+)\s*=>")


@dataclass(frozen=True)
class Signature:
    """One declared overload: every parameter name, and those without a DEFAULT."""

    params: frozenset[str]
    required: frozenset[str]


@dataclass(frozen=True)
class Call:
    file: str
    line: int
    target: str  # package.subprogram, lower case
    params: frozenset[str]
    literal: bool = True  # False: keyword_parameters is not a dict literal, its names are unknown here
    exception: bool = False  # an exception name (WHEN/RAISE), not a call


@dataclass
class Contract:
    specs: dict[str, list[Signature]] = field(default_factory=dict)
    exceptions: set[str] = field(default_factory=set)
    """``package.e_name`` of every exception a spec declares (lower case)."""

    def problems(self, call: Call) -> str | None:
        """None when the call matches a declared overload, else what is wrong."""
        overloads = self.specs.get(call.target)
        where = f"{call.file}:{call.line} calls {call.target}"
        if call.exception:
            if call.target in self.exceptions:
                return None
            return f"{call.file}:{call.line} names exception {call.target}, which no package spec declares"
        if not overloads:
            return f"{where}, which no package spec in sql/ declares"
        if not call.literal:
            return (
                f"{where} with keyword_parameters that are not a dict literal: their names cannot be "
                "checked against the spec here; write the dict in the call"
            )
        for signature in overloads:
            if call.params <= signature.params and signature.required <= call.params:
                return None
        declared = " | ".join(", ".join(sorted(s.params)) or "(none)" for s in overloads)
        return f"{where} with ({', '.join(sorted(call.params))}); declared: {declared}"


def _split_params(text: str) -> list[str]:
    """Split a parameter list on commas that are not inside parentheses."""
    depth, current, parts = 0, [], []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _parameter_block(text: str, start: int) -> str:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    raise ValueError("unbalanced parentheses in a package spec")


def parse_spec(text: str) -> dict[str, list[Signature]]:
    """Subprograms declared by one package spec, keyed ``package.name`` (lower case)."""
    code = _COMMENT_OR_STRING.sub(lambda m: " " * len(m.group(0)), text)
    package = _PACKAGE.search(code)
    if not package:
        return {}
    result: dict[str, list[Signature]] = {}
    for match in _SUBPROGRAM.finditer(code, package.end()):
        params: set[str] = set()
        required: set[str] = set()
        if match.group(3) == "(":
            for declaration in _split_params(_parameter_block(code, match.start(3))):
                name = declaration.split()[0].lower()
                params.add(name)
                if not re.search(r"\bdefault\b|:=", declaration, re.I):
                    required.add(name)
        key = f"{package.group(1).lower()}.{match.group(2).lower()}"
        result.setdefault(key, []).append(Signature(frozenset(params), frozenset(required)))
    return result


_EXCEPTION = re.compile(r"\b(\w+)\s+exception\s*;", re.I)


def parse_exceptions(text: str) -> set[str]:
    """``package.name`` of the exceptions one package spec declares."""
    code = _COMMENT_OR_STRING.sub(lambda m: " " * len(m.group(0)), text)
    package = _PACKAGE.search(code)
    if not package:
        return set()
    return {
        f"{package.group(1).lower()}.{m.group(1).lower()}" for m in _EXCEPTION.finditer(code, package.end())
    }


def load_contract(sql_root: Path) -> Contract:
    contract = Contract()
    for spec in sorted(sql_root.rglob("*.pks")):
        text = spec.read_text(encoding="utf-8")
        for key, signatures in parse_spec(text).items():
            contract.specs.setdefault(key, []).extend(signatures)
        contract.exceptions |= parse_exceptions(text)
    return contract


def _string_calls(file: str, node: ast.Constant) -> list[Call]:
    text = str(node.value)
    calls = []
    for match in _CALL_IN_TEXT.finditer(text):
        try:
            block = _parameter_block(text, match.end() - 1)
        except ValueError:  # text split over several literals: read to its end
            block = text[match.end() :]
        params = frozenset(name.lower() for name in _NAMED_ARGUMENT.findall(block))
        calls.append(Call(file, node.lineno, f"{match.group(1)}.{match.group(2)}".lower(), params))
    # Exceptions named in handlers and RAISE (verification.md V-4).
    for match in _EXCEPTION_IN_TEXT.finditer(text):
        target = f"{match.group(1)}.{match.group(2)}".lower()
        calls.append(Call(file, node.lineno, target, frozenset(), exception=True))
    return calls


def find_calls(source: str, file: str) -> list[Call]:
    """PL/SQL calls made by one Python module."""
    calls: list[Call] = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"callproc", "callfunc"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            params: set[str] = set()
            literal = True
            for keyword in node.keywords:
                if keyword.arg == "keyword_parameters" and isinstance(keyword.value, ast.Dict):
                    params |= {
                        k.value.lower()
                        for k in keyword.value.keys
                        if isinstance(k, ast.Constant) and isinstance(k.value, str)
                    }
                elif keyword.arg == "keyword_parameters":
                    literal = False
            target = node.args[0].value.lower()
            # DBMS_* calls, and all calls whatever their form, are checked at run time by the strict
            # fakes of tests/unit (strict_oracle.py) against the catalog of tools/sqlcheck.
            if target.startswith("otask"):
                calls.append(Call(file, node.lineno, target, frozenset(params), literal))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_plsql_text(node.value):
            calls.extend(_string_calls(file, node))
    return calls


def python_calls(package_dir: Path) -> list[Call]:
    calls: list[Call] = []
    for module in sorted(package_dir.rglob("*.py")):
        calls.extend(find_calls(module.read_text(encoding="utf-8"), module.name))
    return calls
