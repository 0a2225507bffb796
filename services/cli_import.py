"""`atelier import PATH... [--copy] [--library DIR] [--json]`: other tools' images into the library.

A folder (recursive) is added in place without --copy: nothing is copied, its images are indexed where they are and
kept up to date by rescans. With --copy, folders and files are copied under the library's images/imported/. A
single file is always copied (an in-place entry per loose file would be a folder list nobody can manage).
--json prints {added, skipped, failed: [{path, reason}], folders}. Exit 0 when the import finished, even with some
failed files; 2 when a PATH does not exist (nothing is imported then; with --json the same object, the missing
paths in `failed` and an `error` added, so that a script reads one shape).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.errors import InputError

EXIT_INPUT = 2
REPORT_KEYS = ("added", "skipped", "failed", "folders", "moved", "changed", "removed")


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="add folders of other tools' images in place, or copy images in")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a folder (recursive) or an image file")
    p.add_argument("--copy", action="store_true", help="copy into the library instead of adding folders in place")
    p.add_argument("--library", help="library folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_import(args, services) -> int:
    paths = [Path(p).expanduser() for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        message = f"{missing[0]} does not exist."
        if not args.json:
            raise InputError(message)
        report = dict.fromkeys(REPORT_KEYS, 0)
        report["failed"] = [{"path": p, "reason": "It does not exist."} for p in missing]
        report["folders"] = []
        report["error"] = {"kind": "input", "status": "INVALID_INPUT", "http_status": None, "message": message}
        print(json.dumps(report, ensure_ascii=False))
        print(f"atelier: {message}", file=sys.stderr)
        return EXIT_INPUT
    library = services.open_library(args.library)
    shown = [0]

    def progress(done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty() and (done - shown[0] >= 1000 or done == total):
            shown[0] = done
            print(f"\r{done}/{total} images read", end="", file=sys.stderr, flush=True)

    try:
        report = library.import_paths(paths, copy=args.copy, progress=progress)
    finally:
        library.close()
    if args.json:
        print(json.dumps({k: report[k] for k in REPORT_KEYS}, ensure_ascii=False))
        return 0
    where = "copied into" if args.copy else "added to"
    print(f"{report['added']} images {where} {library.root}; {report['skipped']} already there.")
    for folder in report["folders"]:
        print(f"  folder kept in place: {folder['path']}")
    for failed in report["failed"]:
        print(f"  not imported: {failed['path']}: {failed['reason']}")
    return 0
