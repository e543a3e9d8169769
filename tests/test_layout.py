"""The package layout's rule, from the source: the method core knows nothing of the toy world.

The graph comes from ``bench/import_graph.py`` (ast, every import in a file, function-local ones and
``importlib.import_module("...")`` strings included), so moving an import into a function does not hide it.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "bench" / "import_graph.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


IG = _graph_module()
GRAPH = IG.graph()

# part -> parts it must never import
FORBIDDEN = {
    "core": {"toy", "cli", "pipeline", "train", "prep", "viz"},
    "prep": {"toy", "cli", "pipeline", "train"},
    "train": {"toy", "cli"},
    "pipeline": {"toy", "cli", "train"},
    "toy": {"cli"},
}


def test_the_graph_sees_function_local_and_importlib_imports(tmp_path):
    pkg = tmp_path / "stdrc_lib"
    (pkg / "core").mkdir(parents=True)
    (pkg / "toy").mkdir()
    for p in (pkg / "__init__.py", pkg / "core" / "__init__.py", pkg / "toy" / "__init__.py", pkg / "toy" / "w.py"):
        p.write_text("")
    (pkg / "core" / "a.py").write_text("def f():\n    from ..toy import w\n")
    (pkg / "core" / "b.py").write_text("import importlib\nimportlib.import_module('stdrc_lib.toy.w')\n")
    assert IG.imports_of(pkg / "core" / "a.py", pkg) == {"stdrc_lib.toy", "stdrc_lib.toy.w"}
    assert IG.imports_of(pkg / "core" / "b.py", pkg) == {"stdrc_lib.toy.w"}


def test_core_never_imports_the_toy_world_cli_or_pipeline():
    assert any(m.startswith("stdrc_lib.core.") for m in GRAPH), "no core modules found"
    bad = [f"{m} imports {d}" for m, deps in GRAPH.items() for d in deps if IG.part(d) in FORBIDDEN.get(IG.part(m), ())]
    assert not bad, "layout rule broken:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    # package __init__ files are left out: a module importing its own package is not a cycle of concepts
    pkgs = {m for m in GRAPH if (ROOT / Path(*m.split("."), "__init__.py")).is_file()}
    g = {m: {d for d in deps if d not in pkgs} for m, deps in GRAPH.items() if m not in pkgs}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_importing_the_core_and_pipeline_loads_no_toy_module():
    code = (
        "import sys, stdrc_lib.core.sampling, stdrc_lib.core.losses, stdrc_lib.core.attention, stdrc_lib.pipeline, "
        "stdrc_lib.train.trainer; bad = [m for m in sys.modules if m.startswith(('stdrc_lib.toy', 'stdrc_lib.cli'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_help_does_not_import_torch():
    code = "import sys, stdrc_lib.cli as c; c.build_parser().format_help(); sys.exit('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, "`stdrc --help` imports torch: " + r.stderr


def test_the_public_api_is_at_the_top_and_light():
    code = (
        "import sys, stdrc_lib; from stdrc_lib import STDRCPipeline, GuidanceConfig, PositionConfig, generate; "
        "heavy = [m for m in sys.modules if m.startswith(('stdrc_lib.toy', 'jupyter', 'ipywidgets', 'IPython'))]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    import stdrc_lib

    assert stdrc_lib.toy_backbone.__module__ == "stdrc_lib.toy.weights"
    with __import__("pytest").raises(AttributeError, match="no attribute 'nope'"):
        stdrc_lib.nope  # noqa: B018
