"""Short verdicts for the claims table, computed from the glued verdicts of the notebooks.

The notebooks glue each verdict as a sentence ("not reproduced: no profile and path reaches
88.94 % ..."), which is the explanation the claims page gives below its table. The table itself
shows only the verdict's leading clause, through the role

    {verdict}`executed/loading_share.ipynb::ls_verdict`

which pastes the same glued text as ``{glue:text}`` and then keeps what :func:`short_verdict`
keeps. Nothing is typed: the short verdict changes with the notebook's result. A verdict whose
leading clause is longer than :data:`MAX_CHARS` is a warning (an error under ``-W``), so that a
reworded verdict cannot make the table unreadable on a phone again.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxRole

LOGGER = logging.getLogger(__name__)
MAX_CHARS = 48
# Where a verdict's leading clause ends: its explanation starts after a colon, a parenthesis, a
# semicolon (the next comparison), or a clause naming the comparison or the evidence.
_CUT = re.compile(r":|\s\(|;|\sagainst\s|,\swhich\s|,\sand\s")
_RENAME = {"direction reproduced, size not": "direction only"}


def short_verdict(text: str) -> str:
    """The leading clause of a glued verdict.

    Examples
    --------
    >>> short_verdict("not reproduced: no profile and path reaches 88.94 %")
    'not reproduced'
    >>> short_verdict("direction reproduced, size not against the no-sharing scheduler: x1.23")
    'direction only'
    >>> short_verdict("confirmed for the DP (more users at 6 of 6 bandwidths); not for the greedy")
    'confirmed for the DP'
    """
    head = _CUT.split(text.strip(), maxsplit=1)[0].strip().rstrip(".,")
    return _RENAME.get(head, head)


class VerdictRole(SphinxRole):
    """``{verdict}`DOC.ipynb::KEY``: the short form of a verdict glued in another document."""

    def run(self):
        from myst_nb.ext.glue.utils import PendingGlueReferenceError, create_pending_glue_ref

        doc, sep, key = self.text.partition("::")
        if not sep:
            msg = self.inliner.reporter.error(
                f"verdict: expected DOC.ipynb::KEY, got {self.text!r}", line=self.lineno)
            return [], [msg]
        try:
            ref = create_pending_glue_ref(self.inliner.document, self.get_source_info()[0],
                                          self.lineno, doc, key, inline=True, gtype="text",
                                          fmt_spec="s")
        except PendingGlueReferenceError as exc:
            msg = self.inliner.reporter.error(f"verdict: {exc}", line=self.lineno)
            return [], [msg]
        wrapper = nodes.inline(classes=["short-verdict"])
        wrapper += ref
        return [wrapper], []


class ShortenVerdicts(SphinxPostTransform):
    """After myst-nb has pasted the glued text (its post-transform has priority 5)."""

    default_priority = 50

    def apply(self, **kwargs):
        for node in list(self.document.findall(nodes.inline)):
            if "short-verdict" not in node["classes"]:
                continue
            text = node.astext()
            short = short_verdict(text)
            if not short or len(short) > MAX_CHARS:
                LOGGER.warning(f"verdict: no short verdict of at most {MAX_CHARS} characters in "
                               f"{text!r} (got {short!r})", location=node)
            node.children = []
            node += nodes.Text(short)


def setup(app):
    app.add_role("verdict", VerdictRole())
    app.add_post_transform(ShortenVerdicts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
