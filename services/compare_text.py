"""What differs between images' settings and prompts, as plain values for the compare view (no Qt, testable alone)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence

# The settings the compare view lists, in this order; any other key in the records follows, by name.
SETTING_ORDER = ("model", "aspect_ratio", "size", "seed", "count", "person_generation", "protocol")
SKIPPED = {"prompt", "references", "file"}
# Another tool's own names for settings an imported image also has under Atelier's names (interop.ImageInfo).
TOOL_NAMES = {"Steps": "steps", "Sampler": "sampler", "CFG scale": "cfg", "Seed": "seed", "Model": "model",
              "Size": "width"}  # fmt: skip


def words(text: str) -> list[str]:
    """The prompt's words and the spaces and punctuation between them, so joining them gives the text back."""
    return re.findall(r"\w+|\s+|[^\w\s]", text or "", re.UNICODE)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """[(kind, text)] with kind 'same', 'removed' or 'added', word by word; joining the 'same' and 'removed' parts
    gives `before`, the 'same' and 'added' parts give `after`."""
    a, b = words(before), words(after)
    parts: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("added", "".join(b[j1:j2])))
    return parts


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def settings_diff(records: Sequence[dict]) -> list[tuple[str, list[str], bool]]:
    """[(setting, [its value in each record], differs)] for every setting any record has, the usual ones first.
    An imported image's tool parameters are settings of their own, not one cell of JSON."""
    records = [_with_tool_parameters(r) for r in records]
    keys = [k for k in SETTING_ORDER if any(k in r for r in records)]
    keys += sorted({k for r in records for k in r} - set(keys) - SKIPPED)
    rows = []
    for key in keys:
        values = [_shown(r.get(key)) for r in records]
        rows.append((key, values, len(set(values)) > 1))
    return rows


def _with_tool_parameters(record: dict) -> dict:
    parameters = record.get("parameters")
    if not isinstance(parameters, dict):
        return record
    flat = {k: v for k, v in record.items() if k != "parameters"}
    for key, value in parameters.items():
        if TOOL_NAMES.get(key) not in flat and key not in flat:
            flat[key] = value
    return flat
