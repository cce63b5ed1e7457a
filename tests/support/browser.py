"""Debian's chromium driven by Playwright: how the browser tests launch it and open watched pages."""

from __future__ import annotations

#: What the machine needs: no sandbox as root, and no background calls to Google's hosts.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def new_page(browser, **options):
    """Return a page in its own context that records script errors, CSP violations and dialogs in ``.problems``."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" and "Content Security" in m.text
            else None)
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return page
