"""axe-core (node_modules/axe-core, pinned in package.json) run inside the page under test.

The script goes in through the DevTools protocol (page.evaluate), which the page's Content-Security-Policy
does not govern, so the policy the pages ship with stays on while axe reads them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `npm install` (package.json pins axe-core).")
    return AXE_JS.read_text()


def serious_violations(page) -> list[str]:
    """axe's serious and critical violations on the page as it is now, one readable line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]


def assert_accessible(page, widths=(1280, 390), height: int = 900) -> None:
    """No serious or critical violation at a desktop and at a phone width."""
    original = page.viewport_size
    for width in widths:
        page.set_viewport_size({"width": width, "height": height})
        found = serious_violations(page)
        assert not found, f"{page.url} at {width}px: {found}"
    page.set_viewport_size(original)
