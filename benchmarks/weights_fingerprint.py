"""Time the content fingerprint of offline model folders: hashed in full once, then remembered.

    python benchmarks/weights_fingerprint.py                 # minilm-l6 and mpnet-base
    python benchmarks/weights_fingerprint.py --model /path/to/a/model/folder

A fresh temporary index is used, so the first call hashes every file; the second must answer from
the index and give the same fingerprint (the script exits non-zero otherwise). The first number
depends on the page cache: a folder read for the first time since boot is read from disk.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from w2s_bench.models import fingerprint
from w2s_bench.models.registry import resolve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="alias or folder (default: minilm-l6 and mpnet-base)")
    args = parser.parse_args()
    index = Path(tempfile.mkdtemp()) / "weights-index.json"
    ok = True
    with mock.patch.object(fingerprint, "index_path", lambda: index):
        for name in args.model or ["minilm-l6", "mpnet-base"]:
            folder = Path(resolve(name).resolved_path())
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6
            start = time.perf_counter()
            first = fingerprint.folder_fingerprint(folder)
            hashed = time.perf_counter() - start
            start = time.perf_counter()
            again = fingerprint.folder_fingerprint(folder)
            remembered = time.perf_counter() - start
            ok &= first == again
            print(f"{name}: {size:,.0f} MB, hashed in {hashed:.2f} s, remembered in {remembered * 1000:.2f} ms, "
                  f"{'same' if first == again else 'DIFFERENT'} fingerprint {first}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
