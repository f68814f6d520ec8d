"""Make the book's HTML self-contained: MathJax served from the site, no duplicated inline scripts.

A local Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``), not part of normlab.

1. **MathJax from the site, not from a CDN.** Sphinx loads MathJax 3 from cdn.jsdelivr.net by
   default, so the math of an offline reader, of a CI browser without network, or of a reader
   behind a firewall stays raw TeX. The PyPI package ``sphinx-mathjax-offline`` (pinned in
   requirements.txt) ships the MathJax 3.2.2 distribution; when it is installed this extension
   points ``mathjax_path`` at ``_static/mathjax/tex-mml-chtml.js`` (the same combined component
   Sphinx uses from the CDN) and copies the distribution into the build. When it is missing the
   build warns (an error under ``make book``'s ``-W``), and the CDN stays in place.
2. **Bibliography entries an accessibility audit accepts.** docutils writes each citation of
   the bibliography as ``role="doc-biblioentry"`` inside a ``role="list"``; ARIA 1.3 deprecates
   that role, and axe-core then finds a list without list items. The entries are written as
   ``role="listitem"``, which is what they are.
3. **No inline script twice.** Sphinx 7.4 writes an inline ``<script>`` twice when an extension
   registers it with ``filename=None`` after the builder started; sphinx-thebe does so with
   ``const THEBE_JS_URL = ...``, and the second copy throws "Identifier 'THEBE_JS_URL' has
   already been declared" in every page's console. Identical scripts are written once.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The installed package that holds the MathJax 3 distribution, and the component to load.
MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_COMPONENT = "tex-mml-chtml.js"


def mathjax_source() -> Path | None:
    """The folder of the installed MathJax 3 distribution, or None when the package is missing."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    return folder if (folder / MATHJAX_COMPONENT).is_file() else None


def _use_local_mathjax(app: Sphinx, config: Config) -> None:
    if mathjax_source() is None:
        logger.warning(
            f"[book_assets] {MATHJAX_PACKAGE} is not installed, so MathJax would load from its "
            f"CDN and math would stay raw TeX offline; install requirements.txt"
        )
        return
    config.mathjax_path = f"mathjax/{MATHJAX_COMPONENT}"


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    source = mathjax_source()
    if exception is not None or source is None or app.builder.format != "html":
        return
    shutil.copytree(source, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def _write_each_script_once(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for js in scripts:
        key = (str(js.filename or ""), tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def _list_items_for_citations(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _use_local_mathjax)
    app.connect("build-finished", _copy_mathjax)
    # After every extension that adds scripts to a page (MathJax, myst-nb, the theme).
    app.connect("html-page-context", _write_each_script_once, priority=900)
    app.connect("html-page-context", _list_items_for_citations)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
