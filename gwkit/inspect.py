"""``python -m gwkit.inspect FILE``: what is in a competition-style file.

Reports the shape, each channel's noise level, a per-channel excess-power
statistic compared with pure noise simulated by the competition's recipe (so
you can see on the real ``test.npy`` whether channel 1 carries any signal,
i.e. which simulation mode matches), and duplicate rows: exact duplicates and
rows that share identical channel-1 noise (the course generator made every
SNR block with one seed, so the test set repeats noise across SNR groups).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from gwkit.core.cli import CommandParser, run_main
from gwkit.core.fileio import atomic_write, check_writable
from gwkit.core.text import plain_doc
from gwkit.data.competition import DataError, load_competition_file
from gwkit.data.inspection import inspect_array


def main(argv: list[str] | None = None) -> int:
    p = CommandParser(prog="python -m gwkit.inspect", description=plain_doc(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path, help="test.npy, a course .sav block or a gwkit .h5 file")
    p.add_argument("--noise-rows", type=int, default=300, help="simulated noise rows for the reference")
    p.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = p.parse_args(argv)
    if args.noise_rows < 1:
        print(f"error: --noise-rows must be at least 1, got {args.noise_rows}", file=sys.stderr)
        return 2
    try:
        if args.json:
            check_writable(args.json)
        data = load_competition_file(args.file)
    except (DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = inspect_array(data.x, name=str(args.file), noise_rows=args.noise_rows)
    print(report.text())
    if args.json:
        with atomic_write(args.json) as fh:
            json.dump(asdict(report), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.inspect"))
