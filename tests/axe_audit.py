"""Accessibility audit of a page by axe-core (vendored from npm, tests only): WCAG 2.1 A and AA.

Reusable by every browser test of a page the tool makes (maps, editor, dashboard)::

    from axe_audit import assert_accessible
    with open_page(chromium, html) as (page, visit):
        assert_accessible(page)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VENDOR = Path(__file__).with_name("vendor")
AXE = VENDOR / "axe-core" / "axe.min.js"
#: The rules of WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _checked_script() -> str:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["axe-core"]["files"]["axe.min.js"]
    return data.decode("utf-8")


def audit(page, *, exclude: tuple[str, ...] = ()) -> list[dict]:
    """The WCAG 2.1 AA violations axe-core finds in the page as it stands (id, impact, help and
    up to five offending elements each)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=_checked_script())
    return page.evaluate(
        """async ([tags, exclude]) => {
            const context = exclude.length ? {exclude: exclude.map(s => [s])} : document;
            const result = await axe.run(context, {runOnly: {type: 'tag', values: tags},
                                                   resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }""", [WCAG_21_AA, list(exclude)])


def assert_accessible(page, *, exclude: tuple[str, ...] = ()) -> None:
    """Fail with axe-core's findings unless the page has no WCAG 2.1 AA violation."""
    violations = audit(page, exclude=exclude)
    assert not violations, json.dumps(violations, ensure_ascii=False, indent=1)
