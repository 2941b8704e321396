"""The layers of the node, checked on the source: every module's imports (read with ``ast``, those under
``TYPE_CHECKING`` and inside functions included) may only reach its own layer or a lower one, no modules
import each other in a circle, and nothing anywhere imports the source folder ``node`` instead of the
package ``alertnode``.

    6  alertnode.app, alertnode.cli                      wiring and lifecycle, the command line
                                                      (with its sub-commands media.cli and ops.cli)
    5  alertnode.api, alertnode.ops, alertnode.config    HTTP, operations; the assembled configuration;
       alertnode.console                               the operator console (page, scripts, SVG drawing);
       alertnode.sandbox                                 sandbox mode: local peers, their wiring, the phone page
    4  alertnode.jobs                                    intake, dispatcher, results, callbacks, events
    3  alertnode.sms, alertnode.mail, alertnode.voice    channels
    2  alertnode.store, alertnode.media                  SQLite and repository functions; audio and TTS
    1  alertnode.errors, alertnode.domain (and domain_info), alertnode.contract, alertnode.logs, alertnode (its version)

``alertnode.client`` (the standard-library client applications embed) stands apart: it imports nothing
of the node but itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "node"

LAYERS: Mapping[str, int] = {
    "alertnode": 1,
    "alertnode.errors": 1,
    "alertnode.domain": 1,
    "alertnode.domain_info": 1,
    "alertnode.contract": 1,
    "alertnode.logs": 1,
    "alertnode.answers": 1,
    "alertnode.store": 2,
    "alertnode.media": 2,
    "alertnode.sms": 3,
    "alertnode.mail": 3,
    "alertnode.voice": 3,
    "alertnode.jobs": 4,
    "alertnode.api": 5,
    "alertnode.ops": 5,
    "alertnode.config": 5,
    "alertnode.console": 5,
    # the sandbox: its peers, the channel wiring of sandbox mode and the sandbox phone page (an extension)
    "alertnode.sandbox": 5,
    "alertnode.app": 6,
    "alertnode.cli": 6,
    # sub-commands of the ``alertnode`` command, kept beside what they drive; they read the whole config
    "alertnode.media.cli": 6,
    "alertnode.ops.cli": 6,
}
APART = "alertnode.client"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("alertnode", *parts))


def imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import statement, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # ``from alertnode import config`` imports the module alertnode.config
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def layer_of(module: str) -> tuple[str, int] | None:
    """The layer entry (its prefix and number) a module of the node belongs to; None outside the node."""
    best = None
    for prefix, layer in LAYERS.items():
        # the package itself is its own entry: it does not hold its subpackages
        inside = module == prefix or (prefix != "alertnode" and module.startswith(prefix + "."))
        if inside and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return best


def violations(graph: Mapping[str, list[tuple[int, str]]]) -> list[str]:
    """Every import of ``graph`` (module -> its imports) that breaks the layering."""
    out = []
    for module, targets in sorted(graph.items()):
        if module == APART or module.startswith(APART + "."):
            out += [f"{module}:{line} imports {t}: the client imports nothing of the node"
                    for line, t in targets
                    if t.startswith("alertnode") and layer_of(t) is not None
                    and not (t == APART or t.startswith(APART + ".")) and t != "alertnode"]
            continue
        own = layer_of(module)
        if own is None:
            out.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for line, target in targets:
            if not (target == "alertnode" or target.startswith("alertnode.")):
                continue
            if target == APART or target.startswith(APART + "."):
                out.append(f"{module}:{line} imports {target}: the client is for applications, not the node")
                continue
            theirs = layer_of(target)
            if theirs is not None and theirs[1] > own[1]:
                out.append(f"{module}:{line} (layer {own[1]}, {own[0]}) imports {target} "
                           f"(layer {theirs[1]}, {theirs[0]})")
    return out


def source_graph() -> dict[str, list[tuple[int, str]]]:
    graph = {}
    for path in sorted(SOURCE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        # ``from alertnode import x`` names x twice (the package and the submodule): keep both, only real
        # modules have a layer other than the package's
        graph[module] = [(line, t) for line, t in imports(tree, module, path.name == "__init__.py")
                         if t == "alertnode" or not t.startswith("alertnode.") or _is_module(t)]
    return graph


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (SOURCE / rel).with_suffix(".py").exists() or (SOURCE / rel / "__init__.py").exists()


def test_every_module_imports_only_its_own_layer_or_below() -> None:
    graph = source_graph()
    assert len(graph) > 80  # the whole node was read
    assert violations(graph) == []


def test_the_check_finds_what_breaks_the_layering() -> None:
    graph = {
        "alertnode.store.repo": [(3, "alertnode.jobs.intake"), (4, "alertnode.domain")],
        "alertnode.domain": [(5, "alertnode.store.db")],
        "alertnode.jobs.events_runtime": [(6, "alertnode.api.routes"), (7, "alertnode.contract.sendalert")],
        "alertnode.ops.runtime": [(8, "alertnode.app")],
        "alertnode.api.routes": [(9, "alertnode.jobs.intake"), (10, "alertnode.client.client")],
        "alertnode.client.client": [(11, "alertnode.errors")],
        "alertnode.newthing": [],
    }
    found = violations(graph)
    assert [v.split(" ")[0] for v in found] == [
        "alertnode.api.routes:10", "alertnode.client.client:11", "alertnode.domain:5",
        "alertnode.jobs.events_runtime:6", "alertnode.newthing:", "alertnode.ops.runtime:8", "alertnode.store.repo:3",
    ]


def test_relative_imports_are_resolved() -> None:
    tree = ast.parse("from . import repo\nfrom ..jobs import intake\n")
    got = {t for _, t in imports(tree, "alertnode.store.views", is_package=False)}
    assert {"alertnode.store.repo", "alertnode.jobs.intake"} <= got


def circles(graph: Mapping[str, list[tuple[int, str]]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a circle (Tarjan's strongly connected
    components of more than one module)."""
    edges = {m: sorted({t for _, t in targets if t in graph and t != m}) for m, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert circles(source_graph()) == []


def test_the_circle_check_finds_one() -> None:
    graph = {"alertnode.media.config": [(50, "alertnode.media.tts")],
             "alertnode.media.tts": [(36, "alertnode.media.config")],
             "alertnode.media.voices": [], "alertnode.media.decode": [(1, "alertnode.media.tts")]}
    assert circles(graph) == [["alertnode.media.config", "alertnode.media.tts"]]


@pytest.mark.parametrize("folder", ["node", "tests", "tools"])
def test_nothing_imports_the_source_folder_instead_of_the_package(folder: str) -> None:
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if ".venv" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            wrong += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}"
                      for n in names if n == "node" or n.startswith("node.")]
    assert wrong == []
