"""Drives VS Code's workbench in the browser the way a person does: keyboard shortcuts, the
command palette, clicks on code lenses, notification buttons and the status bar.

Notifications can come and go faster than a test looks (a warm run takes under a second),
so a MutationObserver installed in the page records every notification toast that ever
appears, with its buttons; tests read that journal. Imports Playwright's sync API only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import FrameLocator, Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

#: The extension's status bar item: `<extension id>.<item id>`.
STATUS_ITEM = "#dw-lsp\\.dw-lsp\\.dwLsp\\.worker"
UI_TIMEOUT_MS = 30_000
QUICK_INPUT = ".quick-input-widget input"
#: Tries, and the time each may take, for a quick input that something else may close.
ATTEMPTS = 3
ATTEMPT_TIMEOUT_MS = 5_000
#: Where the mouse rests: over the empty part of the explorer, where it raises no hover.
NEUTRAL_SPOT = (150, 700)
#: Times the mouse is pointed at a token before a hover that never opens fails the test.
HOVER_ATTEMPTS = 3

_JOURNAL_SCRIPT = """
() => {
  if (window.__dwToasts) { return; }
  window.__dwToasts = [];
  const seen = new WeakMap();
  const record = () => {
    for (const toast of document.querySelectorAll('.notification-toast')) {
      const text = toast.innerText;
      const buttons = [...toast.querySelectorAll('.monaco-button')].map((b) => b.innerText.trim());
      const entry = seen.get(toast);
      if (entry === undefined) {
        const fresh = {text, buttons, at: Date.now()};
        seen.set(toast, fresh);
        window.__dwToasts.push(fresh);
      } else if (entry.text !== text) {
        entry.texts = (entry.texts || []).concat([text]);
        entry.text = text;
        entry.buttons = buttons;
      }
    }
  };
  const options = {childList: true, subtree: true, characterData: true};
  new MutationObserver(record).observe(document.body, options);
  record();
}
"""


@dataclass(frozen=True)
class Toast:
    """A notification toast as it was first seen (``texts``: every text it showed)."""

    text: str
    buttons: tuple[str, ...]
    texts: tuple[str, ...]


class Workbench:
    """One browser page showing code-server."""

    def __init__(self, page: Page) -> None:
        self.page = page

    # -- opening -------------------------------------------------------------------------

    def open_folder(self, url: str, *, trust: bool) -> None:
        """Load the workbench and answer the workspace trust prompt."""
        self.page.goto(url)
        answer = "Yes, I trust the authors" if trust else "No, I don't trust the authors"
        self.page.get_by_role("button", name=answer).click(timeout=90_000)
        self.page.locator(".monaco-workbench").wait_for(timeout=UI_TIMEOUT_MS)
        self.page.evaluate(_JOURNAL_SCRIPT)

    def open_file(self, name: str) -> None:
        """Open a workspace file with Quick Open and wait until its editor is active."""
        self._choose("Control+P", name, lambda row: name in row.inner_text())
        self.page.locator(
            ".editor-group-container.active .tab.active", has_text=re.compile(re.escape(name))
        ).wait_for(timeout=UI_TIMEOUT_MS)
        self.page.locator(".editor-group-container.active .view-lines").first.wait_for(
            timeout=UI_TIMEOUT_MS
        )

    def reset(self) -> None:
        """Close every editor and notification (between tests)."""
        self.page.keyboard.press("Escape")
        self.command("View: Close All Editor Groups")
        self.clear_notifications()

    # -- quick input: Quick Open, the command palette, Go to Line -------------------------

    def _quick_input(self, key: str, text: str) -> Locator:
        """Open a quick input with ``key`` and type ``text`` into it, again if something
        (an editor opening beside, a notification) took the focus and closed it."""
        box = self.page.locator(QUICK_INPUT)
        for attempt in range(ATTEMPTS):
            self.page.keyboard.press(key)
            try:
                box.fill(text, timeout=ATTEMPT_TIMEOUT_MS)
                return box
            except PlaywrightError:
                if attempt == ATTEMPTS - 1:
                    raise
                self.page.keyboard.press("Escape")
        raise AssertionError("unreachable")

    def _choose(self, key: str, text: str, matches: Callable[[Locator], bool]) -> None:
        """Open a quick input, type ``text`` and click the first row that ``matches``."""
        rows = self.page.locator(".quick-input-list .monaco-list-row")
        for _ in range(ATTEMPTS):
            box = self._quick_input(key, text)
            deadline = time.monotonic() + ATTEMPT_TIMEOUT_MS / 1000 * 2
            while time.monotonic() < deadline and box.is_visible():
                try:
                    for row in rows.all():
                        if matches(row):
                            row.click(timeout=ATTEMPT_TIMEOUT_MS)
                            self.page.mouse.move(*NEUTRAL_SPOT)
                            return
                except PlaywrightError:
                    pass  # the list changed under us (still filling in, or closed): look again
                time.sleep(0.1)
        raise AssertionError(f"nothing to choose for {text!r}")

    def _palette(self, text: str) -> Locator:
        self._quick_input("F1", f">{text}")
        return self.page.locator(".quick-input-list .monaco-list-row")

    def command(self, title: str) -> None:
        """Run a command from the palette by its full title (``dw-lsp: Run Workflow``)."""

        def exact(row: Locator) -> bool:
            # The exact title: a longer one ("... with Arguments...") also matches the text,
            # and a recently used command is listed first.
            label = row.locator(".label-name")
            return bool(label.count()) and label.first.inner_text().strip() == title

        self._choose("F1", f">{title}", exact)

    def palette_titles(self, text: str) -> list[str]:
        """The titles the palette lists for ``text`` (then closes it)."""
        rows = self._palette(text)
        # The list fills in asynchronously; give it a moment to settle.
        time.sleep(1.0)
        titles = [label.inner_text() for label in rows.locator(".label-name").all()]
        self.page.keyboard.press("Escape")
        return titles

    # -- editor --------------------------------------------------------------------------

    def focus_editor(self) -> None:
        self.page.locator(".editor-group-container.active .monaco-editor textarea").first.focus()

    def go_to(self, line: int, column: int) -> None:
        """Move the cursor (Go to Line/Column)."""
        self.focus_editor()
        self._quick_input("Control+G", f":{line}:{column}")
        self.page.keyboard.press("Enter")
        self.page.locator(".quick-input-widget").wait_for(state="hidden", timeout=UI_TIMEOUT_MS)

    def type_text(self, text: str) -> None:
        """Insert text at the cursor as typed input (no auto-closing of quotes)."""
        self.page.keyboard.insert_text(text)

    def lens(self, title: str) -> Locator:
        return self.page.locator(
            ".editor-group-container.active .codelens-decoration a", has_text=title
        )

    def hover(self, token: str) -> str:
        """Point the mouse at ``token`` in the active editor; the hover's text. A hover that
        does not open (the mouse arrived while the editor was still settling, or before the
        server was ready) is pointed at again, as a user would, up to three times."""
        target = self.page.locator(
            ".editor-group-container.active .view-line span span", has_text=token
        ).first
        widget = self.page.locator(".monaco-resizable-hover .monaco-hover:not(.hidden)").first
        for attempt in range(HOVER_ATTEMPTS):
            target.hover()
            try:
                widget.wait_for(timeout=UI_TIMEOUT_MS // HOVER_ATTEMPTS)
                break
            except PlaywrightTimeout:
                if attempt == HOVER_ATTEMPTS - 1:
                    raise
                self.page.mouse.move(*NEUTRAL_SPOT)
        deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
        text = widget.inner_text()
        while text.strip() in ("", "Loading...") and time.monotonic() < deadline:
            time.sleep(0.1)
            text = widget.inner_text()
        self.page.mouse.move(*NEUTRAL_SPOT)
        return text

    def suggestions(self) -> list[str]:
        """Trigger completion at the cursor (Ctrl+Space) and return the labels shown."""
        self.page.keyboard.press("Control+Space")
        rows = self.page.locator(".suggest-widget.visible .monaco-list-row")
        rows.first.wait_for(timeout=UI_TIMEOUT_MS)
        labels = [row.get_attribute("aria-label") or "" for row in rows.all()]
        self.page.keyboard.press("Escape")
        return labels

    def problems(self) -> list[str]:
        """The rows of the Problems panel (opened with Ctrl+Shift+M)."""
        if not self.page.locator(".markers-panel").is_visible():
            self.page.keyboard.press("Control+Shift+M")
        rows = self.page.locator(".markers-panel .monaco-list-row")
        rows.first.wait_for(timeout=UI_TIMEOUT_MS)
        return [row.get_attribute("aria-label") or row.inner_text() for row in rows.all()]

    def webview(self, title: str) -> FrameLocator:
        """The content of the webview editor whose tab starts with ``title``. VS Code lays
        webviews over the editor (outside the editor group), each page nested in two iframes:
        the webview host and its active frame; the visible one is the active tab's."""
        self.page.locator(".tabs-container .tab", has_text=title).first.click(timeout=UI_TIMEOUT_MS)
        host = "iframe.webview.ready:visible"
        self.page.locator(host).first.wait_for(timeout=UI_TIMEOUT_MS)
        return self.page.frame_locator(host).first.frame_locator("#active-frame")

    def editor_titles(self) -> list[str]:
        """The titles of the open editors' tabs, in every group."""
        return [tab.inner_text().strip() for tab in self.page.locator(".tabs-container .tab").all()]

    # -- status bar and notifications ----------------------------------------------------

    def status_text(self) -> str:
        item = self.page.locator(STATUS_ITEM)
        return item.inner_text().strip() if item.count() else ""

    def toasts(self) -> list[Toast]:
        """Every notification toast seen since the page loaded, oldest first."""
        entries = self.page.evaluate("() => window.__dwToasts || []")
        return [
            Toast(e["text"], tuple(e["buttons"]), (*e.get("texts", []), e["text"])) for e in entries
        ]

    def wait_toast(self, pattern: str, *, since: int = 0, timeout_s: float = 60.0) -> Toast:
        """The first toast (from index ``since`` of the journal) whose text matches."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            for toast in self.toasts()[since:]:
                if any(regex.search(text) for text in toast.texts):
                    return toast
            if time.monotonic() > deadline:
                seen = [t.text for t in self.toasts()[since:]]
                raise AssertionError(f"no notification matching {pattern!r}; saw {seen}")
            time.sleep(0.1)

    def visible_toast(self, pattern: str) -> Locator:
        return self.page.locator(".notification-toast", has_text=re.compile(pattern)).first

    def clear_notifications(self) -> None:
        self.command("Notifications: Clear All Notifications")
