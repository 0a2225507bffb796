"""The command line's organizing commands: board, tag, rate, duplicates; and history's filters by them.

    board add|remove NAME IMAGE... [--library DIR] [--json]     board list [--library DIR] [--json]
    board rename OLD NEW                                         board delete NAME   (its images stay)
    tag IMAGE TAG... [--remove]                                 rate IMAGE 0|1|2|3|4|5|reject
    duplicates [--threshold N]                                   (prints groups of look-alikes)

IMAGE is an image's path or its sha256 (or a prefix of 8+ hex digits). Exit codes: 0 done; 2 bad input (an unknown
or ambiguous image, a bad rating), nothing changed; 6 the library could not be written.
"""

from __future__ import annotations

import json

from services.errors import InputError
from services.library import similar

COMMANDS = ("board", "tag", "rate", "duplicates")


def add_parsers(sub) -> None:
    b = sub.add_parser("board", help="put images on a board, take them off, list, rename or delete boards")
    b.add_argument("action", choices=("add", "remove", "list", "rename", "delete"))
    b.add_argument("name", nargs="?", help="the board's name (add, remove, rename, delete)")
    b.add_argument("images", nargs="*", metavar="IMAGE", help="an image's path or sha256 (rename: the new name)")
    b.add_argument("--library")
    b.add_argument("--json", action="store_true")

    t = sub.add_parser("tag", help="add tags to an image (or remove them)")
    t.add_argument("image", metavar="IMAGE")
    t.add_argument("tags", nargs="+", metavar="TAG")
    t.add_argument("--remove", action="store_true")
    t.add_argument("--library")
    t.add_argument("--json", action="store_true")

    r = sub.add_parser("rate", help="rate an image 1-5 stars, 0 to clear, or reject it (hidden, not deleted)")
    r.add_argument("image", metavar="IMAGE")
    r.add_argument("rating", metavar="0|1|2|3|4|5|reject")
    r.add_argument("--library")
    r.add_argument("--json", action="store_true")

    d = sub.add_parser("duplicates", help="groups of identical and look-alike images")
    d.add_argument("--threshold", type=int, default=similar.DEFAULT_THRESHOLD, help="bits that may differ (0-16)")
    d.add_argument("--library")
    d.add_argument("--json", action="store_true")


def add_history_filters(h) -> None:
    h.add_argument("--board", help="only images on this board")
    h.add_argument("--tag", help="only images with this tag")
    h.add_argument("--min-rating", dest="min_rating", type=int, help="only images with at least N stars (1-5)")
    h.add_argument("--include-rejected", dest="include_rejected", action="store_true", help="show rejected images")


def history_filters(args) -> dict:
    if args.min_rating is not None and not 1 <= args.min_rating <= 5:
        raise InputError("--min-rating must be 1 to 5.")
    return {
        "board": args.board,
        "tag": args.tag,
        "min_rating": args.min_rating,
        "include_rejected": args.include_rejected,
    }


def add_organize_json(library, entries_json: list[dict]) -> None:
    """History JSON's images gain rating (0-5 or 'rejected'), tags and boards."""
    shas = [image["sha256"] for entry in entries_json for image in entry["images"]]
    info = library.organize_info(shas)
    for entry in entries_json:
        for image in entry["images"]:
            image.update(info[image["sha256"]])


def _out(args, payload, text: str) -> int:
    print(json.dumps(payload, ensure_ascii=False) if args.json else text)
    return 0


def cmd_board(args, services) -> int:
    if args.action == "list":
        if args.name or args.images:
            raise InputError("board list takes no name or images.")
        library = services.open_library(args.library)
        try:
            boards = library.boards()
        finally:
            library.close()
        text = "\n".join(f"{b['count']:>6}  {b['name']}" for b in boards) or "No boards yet."
        return _out(args, boards, text)
    if args.action in ("rename", "delete"):
        return _rename_or_delete(args, services)
    if not args.name or not args.images:
        raise InputError(f"board {args.action} needs a board's name and at least one image.")
    library = services.open_library(args.library)
    try:
        shas = [library.resolve_image(image) for image in args.images]
        library.board_add(args.name, shas, remove=args.action == "remove")
        board = next((b for b in library.boards() if b["name"] == " ".join(args.name.split())), None)
    finally:
        library.close()
    count = board["count"] if board else 0
    verb = "Added to" if args.action == "add" else "Removed from"
    payload = {"board": " ".join(args.name.split()), "images": shas, "count": count}
    return _out(args, payload, f"{verb} {payload['board']}: {len(shas)} image(s); it holds {count}.")


def _rename_or_delete(args, services) -> int:
    wanted = 1 if args.action == "rename" else 0
    if not args.name or len(args.images) != wanted:
        raise InputError("board rename takes OLD NEW." if wanted else "board delete takes one board's name.")
    library = services.open_library(args.library)
    try:
        if args.action == "rename":
            name = library.board_rename(args.name, args.images[0])
            board = next((b for b in library.boards() if b["name"] == name), {"count": 0})
            payload = {"board": name, "renamed_from": " ".join(args.name.split()), "count": board["count"]}
            text = f"Renamed {payload['renamed_from']} to {name}; it holds {board['count']}."
        else:
            name = " ".join(args.name.split())
            count = next((b["count"] for b in library.boards() if b["name"] == name), 0)
            library.board_delete(name)
            payload = {"board": name, "deleted": True, "images_kept": count}
            text = f"Deleted the board {name}; its {count} image(s) stay in the library."
    finally:
        library.close()
    return _out(args, payload, text)


def _one_image_change(args, services, change) -> int:
    library = services.open_library(args.library)
    try:
        sha = library.resolve_image(args.image)
        change(library, sha)
        info = library.organize_info([sha])[sha]
    finally:
        library.close()
    payload = {"sha256": sha, **info}
    stars = info["rating"] if info["rating"] == "rejected" else f"{info['rating']} stars"
    return _out(args, payload, f"{sha[:12]}  {stars}  tags: {', '.join(info['tags']) or '-'}")


def cmd_tag(args, services) -> int:
    return _one_image_change(args, services, lambda library, sha: library.tag([sha], args.tags, remove=args.remove))


def cmd_rate(args, services) -> int:
    from services.library import organize

    organize.parse_rating(args.rating)  # refused before the library opens
    return _one_image_change(args, services, lambda library, sha: library.rate([sha], args.rating))


def cmd_duplicates(args, services) -> int:
    if not 0 <= args.threshold <= similar.MAX_THRESHOLD:
        raise InputError(f"--threshold must be 0 to {similar.MAX_THRESHOLD} bits.")
    library = services.open_library(args.library)
    try:
        found = library.duplicates(args.threshold)
    finally:
        library.close()
    groups = [[{"path": m["path"], "sha256": m["sha256"], "distance": m["distance"]} for m in g] for g in found]
    lines = []
    for number, group in enumerate(groups, 1):
        lines.append(f"Group {number}:")
        lines += [f"  {m['distance']:>2}  {m['sha256'][:12]}  {m['path']}" for m in group]
    return _out(args, groups, "\n".join(lines) or "No look-alikes found.")


HANDLERS = {"board": cmd_board, "tag": cmd_tag, "rate": cmd_rate, "duplicates": cmd_duplicates}
