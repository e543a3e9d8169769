"""Print which parts of ``stdrc_lib`` import which, from the source (ast), function-local imports included.

    python bench/import_graph.py            # package-level graph: core, train, prep, pipeline, toy, cli, ...
    python bench/import_graph.py --modules  # every module and the stdrc_lib modules it imports

``tests/test_layout.py`` checks the rule on the same graph: the method core imports nothing of the
toy world, the CLI, the pipeline or the trainer.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stdrc_lib"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every ``stdrc_lib`` module ``path`` imports, anywhere in the file (relative imports resolved)."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}  # `from pkg import module`
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    known = {module_name(p, root) for p in root.rglob("*.py")}
    return {m for m in found if m in known and m != me}


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(p, root): imports_of(p, root) for p in sorted(root.rglob("*.py"))}


def part(module: str) -> str:
    """``stdrc_lib.core.sampling`` → ``core``; top-level modules are their own part (``pipeline``, ``viz``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "stdrc_lib"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", action="store_true", help="list every module instead of the package-level graph")
    args = ap.parse_args(argv)
    g = graph()
    if args.modules:
        for m, deps in g.items():
            print(f"{m} -> {', '.join(sorted(deps)) or '(nothing of stdrc_lib)'}")
        return
    edges: dict[str, set[str]] = {}
    for m, deps in g.items():
        edges.setdefault(part(m), set()).update(part(d) for d in deps if part(d) != part(m))
    for p in sorted(edges):
        print(f"{p:10s} -> {', '.join(sorted(edges[p])) or '(nothing of stdrc_lib)'}")


if __name__ == "__main__":
    main()
