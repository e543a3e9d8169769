"""Time each notebook end to end, in smoke mode (``STDRC_SMOKE=1``, what CI runs) and in full mode.

    python bench/notebook_times.py                      # every notebook, both modes
    python bench/notebook_times.py --only 03 --modes full

Each run executes the ``.ipynb`` under nbmake, as CI does (a fresh kernel; the cells tagged ``skip-execution``
skipped), and records the time nbmake reports for it. Results are merged into ``docs/results/notebook_times.json``
(seconds per notebook and mode, with the command, git revision, weight sha256 and the machine's core count);
``python docs/make_docs.py`` writes them into the README's notebook table. A notebook that fails is reported and
its time is not recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
OUT = ROOT / "docs" / "results" / "notebook_times.json"
MODES = ("smoke", "full")


def run_notebook(path: Path, smoke: bool, timeout: int) -> float:
    """Execute one notebook under nbmake (a fresh kernel, the cells tagged ``skip-execution`` skipped: what CI
    runs); the seconds the notebook took, as nbmake reports them."""
    env = {**os.environ, "STDRC_SMOKE": "1" if smoke else "0"}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--nbmake-timeout={timeout}",
               f"--junitxml={report}", str(path)]  # fmt: skip
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:])
        case = ET.parse(report).getroot().find(".//testcase")
        return float(case.get("time"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="PREFIX", help="notebooks whose name starts with these (e.g. 01 03)")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one notebook may run (default 1800)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    notebooks = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [p for p in notebooks if p.name.startswith(tuple(args.only))]
        if not notebooks:
            ap.error(f"--only {' '.join(args.only)}: no notebook in {NB_DIR} starts with that")
    sys.path.insert(0, str(ROOT))
    from stdrc_lib.outputs import provenance, weight_hashes, write_record

    record = json.loads(args.out.read_text()) if args.out.is_file() else {"seconds": {}, "runs": []}
    failed = []
    for path in notebooks:
        for mode in args.modes:
            print(f"{path.name} ({mode}) ...", end=" ", flush=True)
            try:
                s = run_notebook(path, mode == "smoke", args.timeout)
            except Exception as e:  # a failing notebook is reported, not timed
                print(f"FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                failed.append(f"{path.name} ({mode})")
                continue
            print(f"{s:.0f} s")
            record["seconds"].setdefault(path.stem, {})[mode] = round(s, 1)
    run = provenance(ROOT / "data" / "toy" / "base", cores=os.cpu_count(),
                     adapter_sha256=weight_hashes(ROOT / "data" / "toy" / "stdrc"))  # fmt: skip
    record["runs"] = [*record.get("runs", []), run]
    write_record(args.out, record)
    print(f"wrote {args.out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
