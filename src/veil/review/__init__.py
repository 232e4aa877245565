"""``veil review``: a local web app where a person checks and corrects every file before publishing.

:class:`~veil.review.session.ReviewSession` is one run under review (its
report, its files, the person's edits); :func:`~veil.review.app.create_app`
serves it over HTTP (Starlette, the ``veil[review]`` extra) with a page
shipped in ``static/`` (plain HTML, CSS and JavaScript: no CDN, no build
step); :func:`~veil.review.apply.apply_pending` re-renders edited files
through the pipeline. Only :mod:`.session`, :mod:`.model` and :mod:`.apply`
import without the extra.
"""

from .apply import apply_pending
from .session import EDITS_NAME, REPORT_NAME, ReviewSession

__all__ = ["ReviewSession", "apply_pending", "REPORT_NAME", "EDITS_NAME"]
