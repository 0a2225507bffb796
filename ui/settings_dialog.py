"""Settings: endpoint and key, a connection test, library folder, parallel requests. Opened with open(), never
exec(): a nested loop inside a coroutine breaks qasync."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from services import endpoints
from services.app import Services
from services.client import GeminiClient
from services.errors import AtelierError
from services.http_pool import HttpPool
from ui.common import TaskSlots, tr

ENDPOINTS = [("google", "Google"), ("chainhub", "ChainHub proxy"), ("custom", "Custom URL"), ("demo", "Offline demo")]


def key_source_text(source: str | None) -> str:
    where = {"keychain": tr("stored in the system keychain"), "file": tr("stored in a private file")}
    if source and source.startswith("environment:"):
        return tr("A key comes from the environment variable {0}.").format(source.split(":", 1)[1])
    if source:
        return tr("A key is {0}.").format(where.get(source, source))
    return tr("No key yet. Get one at aistudio.google.com (Google) or from your proxy.")


class SettingsDialog(QDialog):
    applied = Signal()

    def __init__(self, services: Services, parent=None, http: HttpPool | None = None):
        super().__init__(parent)
        self.services = services
        self.http = http
        self.setWindowTitle(tr("Atelier Settings"))
        self.setMinimumWidth(560)
        self.tasks = TaskSlots(lambda message: self.test_result.setText(message))
        settings = services.settings

        self.endpoint = QComboBox(self)
        for name, label in ENDPOINTS:
            self.endpoint.addItem(tr(label), name)
        self.endpoint.setAccessibleName(tr("Endpoint"))
        current = services.saved_endpoint().name
        self.endpoint.setCurrentIndex([n for n, _ in ENDPOINTS].index(current))
        self.url = QLineEdit(settings.get("custom_url", ""), self)
        self.url.setPlaceholderText("https://my-proxy.example.com")
        self.auth = QComboBox(self)
        for style, label in (
            ("query", "?key= in the URL"),
            ("bearer", "Authorization: Bearer"),
            ("header", "x-goog-api-key header"),
        ):
            self.auth.addItem(tr(label), style)
        self.auth.setCurrentIndex(max(0, self.auth.findData(settings.get("custom_auth", "query"))))
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText(tr("Paste a new key to store it (leave empty to keep the current one)"))
        self.key.setAccessibleName(tr("API key"))
        self.key_status = QLabel(self)
        self.key_status.setWordWrap(True)
        self.allow_file = QCheckBox(tr("No system keychain here: keep the key in a file only my user can read"), self)
        self.allow_file.setVisible(not services.keys.keychain_available())
        self.forget_key = QPushButton(tr("Forget stored key"), self)
        self.forget_key.clicked.connect(self._forget_key)
        self.test = QPushButton(tr("Test connection"), self)
        self.test.clicked.connect(self._test_connection)
        self.test_result = QLabel(self)
        self.test_result.setWordWrap(True)
        self.library = QLineEdit(str(services.library_root()), self)
        browse = QPushButton(tr("Choose…"), self)
        browse.clicked.connect(self._choose_library)
        self.parallel = QSpinBox(self)
        self.parallel.setRange(1, 8)
        self.parallel.setValue(int(settings.get("max_parallel", 4)))
        self.timeout = QSpinBox(self)
        self.timeout.setRange(10, 600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(int(settings.get("timeout_s", 120)))

        form = QFormLayout()
        form.addRow(tr("Endpoint"), self.endpoint)
        self.url_row = QWidget(self)
        url_layout = QHBoxLayout(self.url_row)
        url_layout.setContentsMargins(0, 0, 0, 0)
        url_layout.addWidget(self.url, 2)
        url_layout.addWidget(self.auth, 1)
        form.addRow(tr("Server URL"), self.url_row)
        key_row = QWidget(self)
        key_layout = QHBoxLayout(key_row)
        key_layout.setContentsMargins(0, 0, 0, 0)
        key_layout.addWidget(self.key, 1)
        key_layout.addWidget(self.forget_key)
        form.addRow(tr("API key"), key_row)
        form.addRow("", self.key_status)
        form.addRow("", self.allow_file)
        test_row = QWidget(self)
        test_layout = QHBoxLayout(test_row)
        test_layout.setContentsMargins(0, 0, 0, 0)
        test_layout.addWidget(self.test)
        test_layout.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        library_row = QWidget(self)
        library_layout = QHBoxLayout(library_row)
        library_layout.setContentsMargins(0, 0, 0, 0)
        library_layout.addWidget(self.library, 1)
        library_layout.addWidget(browse)
        form.addRow(tr("Library folder"), library_row)
        form.addRow(tr("Parallel requests"), self.parallel)
        form.addRow(tr("Wait for an answer"), self.timeout)
        self.appearance = QComboBox(self)
        self.appearance.setAccessibleName(tr("Appearance"))
        for label, value in ((tr("Follow the system"), "system"), (tr("Light"), "light"), (tr("Dark"), "dark")):
            self.appearance.addItem(label, value)
        self.appearance.setCurrentIndex(max(0, self.appearance.findData(services.settings.get("appearance"))))
        form.addRow(tr("Appearance"), self.appearance)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #c83c3c")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.endpoint.currentIndexChanged.connect(self._endpoint_changed)
        self._endpoint_changed()

    def chosen_endpoint(self):
        name = self.endpoint.currentData()
        if name == "custom":
            return endpoints.custom(self.url.text(), self.auth.currentData())
        if name == "demo":
            return self.services.endpoint("demo")
        return endpoints.resolve(name)

    def _endpoint_changed(self, *_):
        name = self.endpoint.currentData()
        self.url_row.setEnabled(name == "custom")
        needs_key = name != "demo"
        self.key.setEnabled(needs_key)
        self.forget_key.setEnabled(needs_key)
        if not needs_key:
            self.key_status.setText(tr("The offline demo needs no key and costs nothing."))
            return
        cached = self.services.keys.cached(name)
        if cached is not None:
            self.key_status.setText(key_source_text(cached[1]))
            return
        self.key_status.setText(tr("Looking for a stored key…"))

        async def look_up():  # the keychain may take a while, or ask the user to unlock it
            status = await asyncio.to_thread(self.services.keys.status, name)
            if self.endpoint.currentData() == name:  # a locked keychain: a key may be there, unreadable now
                self.key_status.setText(status.problem or key_source_text(status.source))

        self.tasks.run("key-status", look_up())

    def _forget_key(self):
        try:
            self.services.keys.clear(self.endpoint.currentData())
        except RuntimeError as exc:  # a locked keychain kept it: say so, the key is still there
            self.error.setText(str(exc))
        self._endpoint_changed()

    def _store_key(self) -> bool:
        key = self.key.text().strip()
        if not key:
            return True
        try:
            self.services.keys.set(self.endpoint.currentData(), key, allow_file=self.allow_file.isChecked())
        except (RuntimeError, ValueError) as exc:
            self.error.setText(str(exc))
            self.allow_file.setVisible(True)
            return False
        self.key.clear()
        self._endpoint_changed()
        return True

    def _test_connection(self):
        try:
            endpoint = self.chosen_endpoint()
        except ValueError as exc:
            self.test_result.setText(str(exc))
            return
        cached = self.services.keys.cached(endpoint.name) if endpoint.needs_key else (None, None)
        key = self.key.text().strip() or (cached[0] if cached else self.services.key_for(endpoint))
        if endpoint.needs_key and not key:
            self.test_result.setText(tr("Add a key first."))
            return
        self.test_result.setText(tr("Asking the endpoint for its models…"))
        self.test.setEnabled(False)

        async def test():
            try:
                http = self.http.client_for(endpoint) if self.http is not None else None
                async with GeminiClient(endpoint, key, http=http, timeout=30) as client:
                    models = await client.list_models()
                catalog = self.services.catalog.merged_with_discovery(models)
                images = [m.id for m in catalog.models() if m.served]
                self.test_result.setText(
                    tr("Connected: {0} models, {1} for images ({2}).").format(
                        len(models), len(images), ", ".join(images[:4]) + ("…" if len(images) > 4 else "")
                    )
                )
            except AtelierError as exc:
                self.test_result.setText(str(exc))
            finally:
                self.test.setEnabled(True)

        self.tasks.run("test", test())

    def _choose_library(self):
        dialog = QFileDialog(self, tr("Choose the library folder"), self.library.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.library.setText)
        dialog.open()

    def _save(self):
        name = self.endpoint.currentData()
        if name == "custom":
            try:
                endpoints.custom(self.url.text(), self.auth.currentData())
            except ValueError as exc:
                self.error.setText(str(exc))
                return
        if not self._store_key():
            return
        settings = self.services.settings
        library = self.library.text().strip()
        settings.update(
            endpoint=name,
            custom_url=self.url.text().strip(),
            custom_auth=self.auth.currentData(),
            max_parallel=self.parallel.value(),
            timeout_s=self.timeout.value(),
            appearance=self.appearance.currentData(),
            library=library if library and library != str(self.services.paths.default_library()) else None,
        )
        try:
            settings.save()
        except OSError as exc:
            self.error.setText(tr("Could not save the settings: {0}").format(exc))
            return
        self.applied.emit()
        self.accept()

    def done(self, result):
        self.tasks.cancel_all()
        super().done(result)
