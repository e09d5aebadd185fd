"""Take the README's screenshots from a running demo (``make demo`` or ``manage.py demo``).

.venv/bin/python scripts/screenshots.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="en-GB")
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("cns.uro")
        page.get_by_label("Password").fill("demo-password-1")
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{base}/worklists/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "worklist.png"), full_page=False)
        # The record of the first patient on the worklist (their row may be folded).
        record_link = page.locator("details a[href*='/patients/']").first.get_attribute("href")
        page.goto(f"{base}{record_link}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)  # the charts draw after their panel loads
        page.set_viewport_size({"width": 1440, "height": 1200})
        page.screenshot(path=str(OUT / "patient.png"), full_page=False)
        # The same record on a phone: the summary first.
        record = page.url
        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            locale="en-GB",
            device_scale_factor=2,
            storage_state=page.context.storage_state(),  # still logged in
        )
        small = phone.new_page()
        small.goto(f"{base}/worklists/")
        small.wait_for_load_state("networkidle")
        small.screenshot(path=str(OUT / "worklist-phone.png"), full_page=False)
        small.goto(record)
        small.wait_for_load_state("networkidle")
        small.screenshot(path=str(OUT / "patient-phone.png"), full_page=False)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
