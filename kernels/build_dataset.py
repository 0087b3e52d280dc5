"""Build the folder of a Kaggle dataset that installs gwkit offline (and carries weights).

Usage (from the repository root)::

    python kernels/build_dataset.py --out build/kaggle-dataset --username YOU
    python kernels/build_dataset.py --out build/kaggle-dataset --username YOU \\
        --with-deps lalsuite --python-version 3.11 --platform manylinux2014_x86_64
    python kernels/build_dataset.py --out build/gwkit-weights --username YOU \\
        --slug gwkit-weights --no-wheel --weights weights/gwkit_resnet runs/baseline

then ``kaggle datasets create -p build/kaggle-dataset --dir-mode zip`` (first time) or
``kaggle datasets version -p build/kaggle-dataset --dir-mode zip -m "..."``. The kaggle
client skips sub-folders (``weights/``) unless ``--dir-mode zip`` or ``tar`` is given.

What ends up in ``--out``:

* ``gwkit-<version>-py3-none-any.whl``: ``pip wheel --no-deps`` of a clean copy of the
  package (``gwkit/``, ``setup.cfg``, ``pyproject.toml``, ``README.md``), so the
  checkout gets no ``build/`` or ``*.egg-info``; ``--no-wheel`` leaves it out;
* with ``--with-deps PKG ...``: ``pip download PKG ...`` wheels (and their dependencies)
  for the packages the Kaggle image lacks, usually ``lalsuite`` (needed to simulate,
  i.e. to train; prediction does not need it). ``--python-version`` / ``--platform``
  pick wheels for the Kaggle image when this machine differs from it;
* with ``--weights RUN ...``: ``weights/<run>/<fold>.pt`` for each ``fold*/best.pt``
  of a ``gwkit.train`` run (or each ``*.pt`` directly in the folder), plus the run's
  ``config.yaml`` and ``oof.csv`` when present, a layout ``gwkit.predict --runs`` reads;
* ``dataset-metadata.json``: ``{"title", "id": "<username>/<slug>", "licenses": [CC0-1.0]}``.

Notebooks install with ``pip install --no-index --find-links /kaggle/input/<slug> gwkit``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLACEHOLDER_USER = "YOUR_KAGGLE_USERNAME"
#: What a wheel build needs from the checkout (copied to a clean folder first).
SOURCES = ("gwkit", "setup.cfg", "pyproject.toml", "README.md", "setup.py", "LICENSE")

__all__ = ["build_wheel", "copy_weights", "download_deps", "main", "write_metadata"]


def _run(cmd: list[str]) -> None:
    print("+ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise SystemExit(f"build_dataset: command failed with exit code {done.returncode}: "
                         + " ".join(cmd))


def build_wheel(out: Path, repo: Path = REPO, *, isolation: bool = False) -> Path:
    """``pip wheel --no-deps`` of a clean copy of ``repo``'s package into ``out``; the wheel."""
    for old in out.glob("gwkit-*.whl"):
        old.unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.tmp")
    with tempfile.TemporaryDirectory(prefix="gwkit-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in SOURCES:
            path = repo / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=ignore)
            elif path.is_file():
                shutil.copy2(path, src / name)
        if not (src / "gwkit").is_dir():
            raise SystemExit(f"build_dataset: no gwkit/ package in {repo}")
        cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(out),
               "--disable-pip-version-check", "-q"]
        if not isolation:
            cmd.append("--no-build-isolation")  # setuptools from this environment: offline
        _run(cmd)
    wheels = sorted(out.glob("gwkit-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"build_dataset: expected one gwkit wheel in {out}, found {wheels}")
    return wheels[0]


def download_deps(out: Path, packages: Sequence[str], *, python_version: str | None = None,
                  platform: str | None = None) -> None:
    """``pip download`` wheels of ``packages`` (and their dependencies) into ``out``."""
    cmd = [sys.executable, "-m", "pip", "download", *packages, "-d", str(out),
           "--only-binary=:all:", "--disable-pip-version-check"]
    if python_version:
        cmd += ["--python-version", python_version]
    if platform:
        cmd += ["--platform", platform]
    _run(cmd)


def copy_weights(out: Path, runs: Sequence[str | os.PathLike]) -> list[Path]:
    """``weights/<run>/<fold>.pt`` (+ config.yaml, oof.csv) for each run; the copied .pt files."""
    copied: list[Path] = []
    names: set[str] = set()
    for given in runs:
        run = Path(given)
        if not run.is_dir():
            raise SystemExit(f"build_dataset: --weights {run}: no such folder")
        pairs = [(p, p.parent.name) for p in sorted(run.glob("fold*/best.pt"))]
        if not pairs:
            pairs = [(p, p.stem) for p in sorted(run.glob("*.pt"))]
        if not pairs:
            raise SystemExit(f"build_dataset: --weights {run}: no fold*/best.pt or *.pt inside")
        name = run.resolve().name
        if name in names:
            raise SystemExit(f"build_dataset: two runs named {name!r}; rename one folder")
        names.add(name)
        dest = out / "weights" / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for src, fold in pairs:
            shutil.copy2(src, dest / f"{fold}.pt")
            copied.append(dest / f"{fold}.pt")
        for extra in ("config.yaml", "oof.csv"):
            if (run / extra).is_file():
                shutil.copy2(run / extra, dest / extra)
        print(f"weights: {run} -> {dest} ({len(pairs)} checkpoint(s))")
    return copied


def write_metadata(out: Path, username: str, slug: str, title: str) -> Path:
    """``dataset-metadata.json`` as ``kaggle datasets create`` reads it (checked like it)."""
    if not 6 <= len(slug) <= 50:
        raise SystemExit(f"build_dataset: --slug {slug!r}: Kaggle wants 6 to 50 characters")
    if not 6 <= len(title) <= 50:
        raise SystemExit(f"build_dataset: --title {title!r}: Kaggle wants 6 to 50 characters")
    if not username or "/" in username:
        raise SystemExit(f"build_dataset: --username {username!r}: not a Kaggle user name")
    meta = {"title": title, "id": f"{username}/{slug}", "licenses": [{"name": "CC0-1.0"}]}
    path = out / "dataset-metadata.json"
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python kernels/build_dataset.py",
        description="Build a Kaggle dataset folder: gwkit wheel, optional dependency wheels "
                    "and weights, dataset-metadata.json.")
    p.add_argument("--out", required=True, help="dataset folder to create or update")
    p.add_argument("--username", default=os.environ.get("KAGGLE_USERNAME") or PLACEHOLDER_USER,
                   help="Kaggle user name (default: $KAGGLE_USERNAME or a placeholder)")
    p.add_argument("--slug", default="gwkit-wheels", help="dataset slug (default gwkit-wheels)")
    p.add_argument("--title", default=None, help="dataset title (default: the slug, spaced)")
    p.add_argument("--weights", nargs="+", default=[], metavar="RUN_DIR",
                   help="gwkit.train run folders whose fold*/best.pt to include")
    p.add_argument("--with-deps", nargs="+", default=[], metavar="PKG",
                   help="pip download these packages' wheels too (needs PyPI), e.g. lalsuite")
    p.add_argument("--python-version", default=None,
                   help="for --with-deps: the Kaggle image's Python, e.g. 3.11")
    p.add_argument("--platform", default=None,
                   help="for --with-deps: e.g. manylinux2014_x86_64")
    p.add_argument("--no-wheel", action="store_true", help="leave the gwkit wheel out")
    p.add_argument("--build-isolation", action="store_true",
                   help="build the wheel in an isolated environment (downloads setuptools)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    title = args.title or args.slug.replace("-", " ")
    meta = write_metadata(out, args.username, args.slug, title)
    if not args.no_wheel:
        wheel = build_wheel(out, isolation=args.build_isolation)
        print(f"wheel: {wheel}")
    if args.with_deps:
        download_deps(out, args.with_deps, python_version=args.python_version,
                      platform=args.platform)
    if args.weights:
        copy_weights(out, args.weights)
    if args.username == PLACEHOLDER_USER:
        print(f"note: {meta} names {PLACEHOLDER_USER}; pass --username or edit it before upload")
    print(f"dataset folder ready: {out}\n"
          f"  kaggle datasets create -p {out} --dir-mode zip      # first upload\n"
          f"  kaggle datasets version -p {out} --dir-mode zip -m 'update'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
