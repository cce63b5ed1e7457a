"""Debian's chromium driven by Playwright: how the browser tests launch it and open watched pages."""

from __future__ import annotations

#: The password conftest's make_agent gives every agent unless told otherwise.
PASSWORD = "correct horse battery"
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


def sign_in(page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in to the console through the form, as an agent would."""
    page.goto(f"{base}/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/tickets")


def wait_for_live_updates(page) -> None:
    """Wait until the console's Socket.IO connection to /agent is up (its rooms are joined)."""
    page.wait_for_function("() => window.helpdeskAgentSocket && window.helpdeskAgentSocket.connected")
