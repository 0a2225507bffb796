"""A small stroke font for the demo pictures' captions.

Qt's text rendering needs a QGuiApplication (without one, QFontDatabase aborts the process), and the emulator
paints in its server threads, also in the command line where there is no application object. So the letters are
drawn as pen strokes: every glyph is a few polylines on a 4 x 6 grid (y down, baseline at 6).
"""

from __future__ import annotations

import unicodedata

_O = "1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0"
_P = "0,6 0,0 3,0 4,1 4,2 3,3 0,3"
GLYPHS = {
    "A": "0,6 2,0 4,6; 0.7,4 3.3,4",
    "B": "0,6 0,0 3,0 4,1 4,2 3,3 0,3; 3,3 4,4 4,5 3,6 0,6",
    "C": "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5",
    "D": "0,0 0,6 2.5,6 4,4.5 4,1.5 2.5,0 0,0",
    "E": "4,0 0,0 0,6 4,6; 0,3 3,3",
    "F": "4,0 0,0 0,6; 0,3 3,3",
    "G": "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,3.5 2.5,3.5",
    "H": "0,0 0,6; 4,0 4,6; 0,3 4,3",
    "I": "1,0 3,0; 2,0 2,6; 1,6 3,6",
    "J": "4,0 4,5 3,6 1,6 0,5",
    "K": "0,0 0,6; 4,0 0,3.5; 1.3,2.7 4,6",
    "L": "0,0 0,6 4,6",
    "M": "0,6 0,0 2,3.5 4,0 4,6",
    "N": "0,6 0,0 4,6 4,0",
    "O": _O,
    "P": _P,
    "Q": _O + "; 2.5,4.5 4,6.3",
    "R": _P + "; 2,3 4,6",
    "S": "4,1 3,0 1,0 0,1 0,2 1,3 3,3 4,4 4,5 3,6 1,6 0,5",
    "T": "0,0 4,0; 2,0 2,6",
    "U": "0,0 0,5 1,6 3,6 4,5 4,0",
    "V": "0,0 2,6 4,0",
    "W": "0,0 1,6 2,2.5 3,6 4,0",
    "X": "0,0 4,6; 4,0 0,6",
    "Y": "0,0 2,3 4,0; 2,3 2,6",
    "Z": "0,0 4,0 0,6 4,6",
    "0": _O + "; 4,1 0,5",
    "1": "1,1 2,0 2,6; 1,6 3,6",
    "2": "0,1 1,0 3,0 4,1 4,2 0,6 4,6",
    "3": "0,1 1,0 3,0 4,1 4,2 3,3 1.5,3; 3,3 4,4 4,5 3,6 1,6 0,5",
    "4": "3,6 3,0 0,4 4,4",
    "5": "4,0 0,0 0,3 3,3 4,4 4,5 3,6 0,6",
    "6": "3.5,0 1,0 0,1 0,5 1,6 3,6 4,5 4,4 3,3 0,3",
    "7": "0,0 4,0 1.5,6",
    "8": "1,0 3,0 4,1 4,2 3,3 1,3 0,4 0,5 1,6 3,6 4,5 4,4 3,3 1,3 0,2 0,1 1,0",
    "9": "4,3 1,3 0,2 0,1 1,0 3,0 4,1 4,5 3,6 0.5,6",
    ".": "2,5.6 2,6",
    ",": "2,5.4 1.4,7",
    "!": "2,0 2,4; 2,5.6 2,6",
    "?": "0,1 1,0 3,0 4,1 4,2 2,3.5 2,4.3; 2,5.6 2,6",
    "-": "1,3 3,3",
    "'": "2,0 2,1.6",
    '"': "1.3,0 1.3,1.6; 2.7,0 2.7,1.6",
    ":": "2,1.8 2,2.2; 2,5.6 2,6",
    ";": "2,1.8 2,2.2; 2,5.4 1.4,7",
    "/": "0,6 4,0",
    "+": "2,1.5 2,4.5; 0.5,3 3.5,3",
    "#": "1.5,0 1,6; 3,0 2.5,6; 0,2 4,2; 0,4 4,4",
    "(": "3,0 1.5,1.5 1.5,4.5 3,6",
    ")": "1,0 2.5,1.5 2.5,4.5 1,6",
    "&": "4,6 0.5,1.5 1.5,0 2.5,0 3,1 0,4 0,5 1,6 2.5,6 4,4",
    "=": "0.5,2 3.5,2; 0.5,4 3.5,4",
    "*": "2,1 2,5; 0.3,2 3.7,4; 3.7,2 0.3,4",
    "%": "0,6 4,0; 0.5,0.5 1,1; 3,5 3.5,5.5",
    "$": "4,1 3,0.5 1,0.5 0,1.5 1,3 3,3 4,4.5 3,5.5 1,5.5 0,5; 2,0 2,6",
    "@": "3,4 3,2 1.5,2 1,3 1.5,4 3,4 4,3 4,1 3,0 1,0 0,1 0,5 1,6 3.5,6",
}
ADVANCE = 5.4  # grid units from one letter to the next
SPACE = 3.6
_PARSED: dict[str, list[list[tuple[float, float]]]] = {
    char: [[tuple(float(v) for v in point.split(",")) for point in stroke.split()] for stroke in spec.split(";")]
    for char, spec in GLYPHS.items()
}


def normalise(text: str) -> str:
    """Upper case ASCII: accents dropped, other letters shown as '?'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = []
    for char in plain.upper():
        if char.isspace():
            out.append(" ")
        elif char in _PARSED:
            out.append(char)
    return " ".join("".join(out).split())


def text_width(text: str, cap_height: float) -> float:
    unit = cap_height / 6
    width = sum(SPACE if char == " " else ADVANCE for char in text)
    return max(0.0, width - (ADVANCE - 4)) * unit


def strokes(text: str, x: float, y: float, cap_height: float) -> list[list[tuple[float, float]]]:
    """Polylines in pixels for `text` (already normalised) whose cap top-left is at (x, y)."""
    unit = cap_height / 6
    lines = []
    for char in text:
        if char == " ":
            x += SPACE * unit
            continue
        for stroke in _PARSED.get(char, ()):
            lines.append([(x + px * unit, y + py * unit) for px, py in stroke])
        x += ADVANCE * unit
    return lines


def wrap(text: str, max_width: float, cap_height: float, max_lines: int = 2) -> list[str]:
    """Words to lines that fit; the last line ends with '...' when words are left over."""
    lines: list[str] = []
    current = ""
    words = text.split()
    for index, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if text_width(trial, cap_height) <= max_width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            rest = words[index:]
            last = lines[-1]
            while last and text_width(last + "...", cap_height) > max_width:
                last = last[:-1]
            lines[-1] = last.rstrip() + "..." if rest else last
            return lines
    if current:
        lines.append(current)
    return lines[:max_lines]
