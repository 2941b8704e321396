"""Validation errors of the contract models as :class:`~alertnode.errors.Problem` values, each at the JSON
path of the field at fault (``alert[0].recipients[2]``), with pydantic's type-dispatch steps left out."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from alertnode.errors import Problem


def validation_problems(exc: ValidationError) -> list[Problem]:
    """pydantic's errors as (JSON path, message)."""
    out = []
    for err in exc.errors():
        out.append(Problem(json_path(err["loc"]), _message(err)))
    return out


_TYPE_LOC = {"str", "int", "float", "bool", "dict", "list", "list[str]", "none", "function-after",
             "function-plain", "json-or-python[json=list[str],python=chain[is-instance[Sequence],"}


def json_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _TYPE_LOC or "[" in part or part.startswith(("function-", "json-or-python")):
            continue
        else:
            path += ("." if path else "") + part
    return path or "(body)"


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "mandatory field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")
