"""Enumerate the members and signatures of the public classes and functions of a ``sentence_transformers``.

The same code describes upstream 6.2 (run with the interpreter of a throwaway venv that holds it, never sbert's):

    /tmp/upvenv/bin/python tests/member_enumerator.py -o tests/data/upstream_6_2_members.json

and sbert (``tests/test_members.py`` imports :func:`describe`), so the two descriptions compare key for key.

For each class defined under ``sentence_transformers`` and listed by a module of the layout file, it lists the
members that classes of ``sentence_transformers`` define along its MRO (members inherited from torch, transformers
and the standard library are theirs, not ours to compare): their kind and, for callables, each parameter with its
kind and default. Public names only, plus underscored members whose code warns that they are deprecated.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import json
import warnings
from pathlib import Path
from typing import Any

LAYOUT = Path(__file__).parent / "data" / "upstream_6_2_layout.json"


def default_repr(value: Any) -> str | None:
    """A comparable text for a parameter default; None when the parameter has none."""
    if value is inspect.Parameter.empty:
        return None
    if type(value).__name__ == "_HAS_DEFAULT_FACTORY_CLASS":
        return "<factory>"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if inspect.isclass(value):
        return f"class:{value.__name__}"
    if inspect.isroutine(value):
        return f"function:{getattr(value, '__name__', repr(value))}"
    if isinstance(value, float | int | str | bool | type(None) | tuple | list | dict | frozenset | set):
        return repr(value)
    return f"instance:{type(value).__name__}"


def signature(func: Any) -> list[list[Any]] | None:
    """``[[name, kind, default], …]`` for a callable, or None when Python cannot tell its signature."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    return [[p.name, p.kind.name, default_repr(p.default)] for p in sig.parameters.values()]


def _own_classes(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if c.__module__.startswith("sentence_transformers")]


def _is_deprecated(value: Any) -> bool:
    func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return False
    return "deprecat" in source.lower()


def _member(owner: type, name: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, property):
        return {"kind": "property", "settable": raw.fset is not None}
    if isinstance(raw, classmethod | staticmethod):
        kind = type(raw).__name__
        return {"kind": kind, "signature": signature(getattr(owner, name))}
    if inspect.isfunction(raw):
        return {"kind": "method", "signature": signature(raw)}
    if inspect.isclass(raw):
        return {"kind": "class"}
    return {"kind": "attribute", "default": default_repr(raw)}


def describe_class(cls: type) -> dict[str, Any]:
    """The members the classes of ``sentence_transformers`` along the MRO define (first definition wins)."""
    members: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    for owner in _own_classes(cls):
        for name, raw in vars(owner).items():
            if name in members or (name.startswith("_") and name.endswith("_") and name != "__init__"):
                continue
            if name.startswith("_") and name != "__init__" and not (callable(raw) or isinstance(raw, property)):
                continue
            if name.startswith("_") and name != "__init__" and not _is_deprecated(raw):
                continue
            members[name] = _member(owner, name, raw)
    for name, field in fields.items():
        if name.startswith("_"):
            continue
        default = field.default if field.default is not dataclasses.MISSING else inspect.Parameter.empty
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        members[name] = {"kind": "field", "default": default_repr(default)}
    init = members.get("__init__", {}).get("signature")
    for param in init or []:
        if param[2] == "<factory>" and param[0] in members:
            param[2] = members[param[0]]["default"]
    if "__init__" not in members and not issubclass(cls, enum.Enum):
        members["__init__"] = {"kind": "method", "signature": signature(cls)}
    bases = [c.__name__ for c in cls.__mro__[1:] if c is not object]
    return {"bases": bases, "members": members}


def describe(layout: dict[str, Any] | None = None) -> dict[str, Any]:
    """Classes and functions of every layout module, keyed by ``module.qualname`` of their home."""
    layout = layout or json.loads(LAYOUT.read_text())
    classes: dict[str, Any] = {}
    functions: dict[str, Any] = {}
    missing: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module_name, names in sorted(layout["modules"].items()):
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                missing.append(module_name)
                continue
            for name in names:
                value = getattr(module, name, None)
                home = getattr(value, "__module__", "") or ""
                if not home.startswith("sentence_transformers"):
                    continue
                if inspect.isclass(value):
                    key = f"{home}.{value.__qualname__}"
                    if key not in classes:
                        classes[key] = {"public_as": f"{module_name}.{name}", **describe_class(value)}
                elif inspect.isfunction(value):
                    key = f"{home}.{value.__qualname__}"
                    functions.setdefault(key, {"public_as": f"{module_name}.{name}", "signature": signature(value)})
    return {"classes": classes, "functions": functions, "unimportable": missing}


def _same_default(upstream: str | None, ours: str | None) -> bool:
    """Same effective default: equal texts, any default where upstream has none, a function for a lambda,
    a list for the same tuple, and None where upstream builds a mutable default (a list, dict or object)."""
    if upstream is None or upstream == ours:
        return True
    if upstream == "function:<lambda>" and (ours or "").startswith("function:"):
        return True
    if ours == "None" and (upstream[:1] in "[{" or upstream.startswith("instance:")):
        return True
    if ours and ours[:1] in "([" and upstream[:1] in "([":
        return ours[1:-1].rstrip(",") == upstream[1:-1].rstrip(",")
    return False


def compare_signatures(upstream: list[list[Any]] | None, ours: list[list[Any]] | None) -> list[str]:
    """The parameters of upstream's signature that ours lacks by name, or whose default differs."""
    if upstream is None:
        return []
    if ours is None:
        return ["no signature"]
    by_name = {p[0]: p for p in ours}
    gaps = []
    for name, kind, default in upstream:
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD") or name in ("self", "cls"):
            continue
        if name not in by_name:
            gaps.append(f"({name}) missing")
        elif not _same_default(default, by_name[name][2]):
            gaps.append(f"({name}) default {by_name[name][2]} instead of {default}")
    return gaps


def _resolve(path: str) -> Any:
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None


def _n_params(info: dict[str, Any]) -> int:
    return sum(p[0] not in ("self", "cls") for p in info.get("signature") or [])


def compare_class(upstream: dict[str, Any]) -> tuple[dict[str, list[str]], int, int]:
    """Gaps per member of one upstream class, the parameters counted, and those lost with missing members."""
    n_params = sum(_n_params(info) for info in upstream["members"].values())
    cls = _resolve(upstream["public_as"])
    if cls is None:
        return {"": ["class missing"]}, n_params, n_params
    ours = describe_class(cls)["members"]
    gaps: dict[str, list[str]] = {}
    lost = 0
    for name, info in upstream["members"].items():
        if name not in ours and not hasattr(cls, name):
            gaps[name] = [f"missing {info['kind']}"]
            lost += _n_params(info)
            continue
        if info.get("signature"):
            mine = ours[name].get("signature") if name in ours else signature(getattr(cls, name))
            for gap in compare_signatures(info["signature"], mine):
                gaps.setdefault(name, []).append(gap)
        if info["kind"] == "field" and ours.get(name, {}).get("kind") == "field":
            if not _same_default(info["default"], ours[name]["default"]):
                gaps.setdefault(name, []).append(f"default {ours[name]['default']} instead of {info['default']}")
    return gaps, n_params, lost


def compare_function(upstream: dict[str, Any]) -> tuple[list[str], int]:
    """Gaps of one upstream function, and its parameters counted."""
    func = _resolve(upstream["public_as"])
    n_params = sum(p[0] not in ("self", "cls") for p in upstream["signature"] or [])
    if func is None:
        return ["function missing"], n_params
    return compare_signatures(upstream["signature"], signature(func)), n_params


def summary(upstream: dict[str, Any], left_out: dict[str, str]) -> dict[str, Any]:
    """Counts of upstream's members and parameters that sbert has, and every gap not left out on purpose."""
    members = have_members = params = have_params = 0
    gaps: list[str] = []
    for item in upstream["classes"].values():
        found, n_params, lost = compare_class(item)
        members += len(item["members"])
        params += n_params
        missing_members = {m for m, g in found.items() if any(x.startswith("missing") for x in g)}
        have_members += 0 if "" in found else len(item["members"]) - len(missing_members)
        have_params += n_params - lost - sum(len([x for x in g if x.startswith("(")]) for g in found.values())
        for member, member_gaps in found.items():
            for gap in member_gaps:
                key = f"{item['public_as']}.{member}".rstrip(".")
                if key not in left_out and f"{key}{gap.split(')')[0]})" not in left_out:
                    gaps.append(f"{key}: {gap}")
    for item in upstream["functions"].values():
        found, n_params = compare_function(item)
        members += 1
        params += n_params
        have_members += found != ["function missing"]
        have_params += n_params - len([x for x in found if x.startswith("(")])
        key = item["public_as"]
        gaps += [
            f"{key}: {gap}" for gap in found if key not in left_out and f"{key}{gap.split(')')[0]})" not in left_out
        ]
    return {"members": (have_members, members), "parameters": (have_params, params), "gaps": gaps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, help="describe this interpreter's sentence_transformers")
    parser.add_argument("--compare", type=Path, help="compare this interpreter's package with a description")
    args = parser.parse_args()
    if args.compare:
        from test_members import LEFT_OUT

        result = summary(json.loads(args.compare.read_text()), LEFT_OUT)
        print("\n".join(result["gaps"]))
        print(
            f"members {result['members'][0]}/{result['members'][1]}, "
            f"parameters {result['parameters'][0]}/{result['parameters'][1]}, gaps {len(result['gaps'])}"
        )
        return
    import sentence_transformers

    data = {"source": f"sentence-transformers {sentence_transformers.__version__}", **describe()}
    args.output.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
