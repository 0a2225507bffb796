"""Light or dark: the artist's choice, or the system's scheme (Fusion keeps a light palette whatever it says)."""

from __future__ import annotations


def wants_dark(appearance: str, system_scheme) -> bool:
    """The artist's choice wins; "system" follows the platform's scheme (Unknown counts as light)."""
    from PySide6.QtCore import Qt

    if appearance in ("light", "dark"):
        return appearance == "dark"
    return system_scheme == Qt.ColorScheme.Dark


def apply_color_scheme(app, appearance: str | None = None, *, system_dark: bool | None = None) -> None:
    """Fusion keeps a light palette whatever the system says; give it a dark one when the system (or the artist)
    asks for dark. Called again when the system's scheme or the Appearance setting changes.

    system_dark: the system's scheme as last seen, for the window's first paint: asking Qt for it makes Python
    enums for all of Qt's namespace first (about 25 ms)."""
    from PySide6.QtGui import QColor, QPalette

    if appearance is not None:
        app.setProperty("atelier_appearance", appearance)
    appearance = app.property("atelier_appearance") or "system"
    if appearance in ("light", "dark"):
        dark = appearance == "dark"
    elif system_dark is not None:
        dark = system_dark
    else:
        dark = wants_dark(appearance, app.styleHints().colorScheme())
    if not dark:
        app.setPalette(app.style().standardPalette())
        return
    palette = QPalette()
    role = QPalette.ColorRole
    for name, colour in (
        (role.Window, "#26282b"),
        (role.WindowText, "#e6e6e6"),
        (role.Base, "#1c1d1f"),
        (role.AlternateBase, "#2e3033"),
        (role.ToolTipBase, "#2e3033"),
        (role.ToolTipText, "#e6e6e6"),
        (role.Text, "#e6e6e6"),
        (role.Button, "#313337"),
        (role.ButtonText, "#e6e6e6"),
        (role.BrightText, "#ff6b6b"),
        (role.Link, "#6ea8ff"),
        (role.Highlight, "#3d7be0"),
        (role.HighlightedText, "#ffffff"),
        (role.PlaceholderText, "#8a8d91"),
    ):
        palette.setColor(name, QColor(colour))
    for name in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, name, QColor("#75787c"))
    app.setPalette(palette)
