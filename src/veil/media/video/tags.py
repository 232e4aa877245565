"""What a video's container and stream tags say about people (``veil audit``, reports).

veil copies none of these tags into its outputs (see :mod:`.write`); this module
names them, for the audit (with values, shown only to the person who runs it)
and for the report (kinds and counts only: the report travels with the outputs).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["video_metadata"]

# Video tags and what they reveal: (pattern on the lower-case key, kind, risk).
# Names come before times: 'com.apple.quicktime.author' names a person, and
# its 'quicktime' is no time.
_VIDEO_TAGS = (
    (r"location|iso6709|gps|xyz", "gps", "high"),
    (r"serial", "device", "high"),
    (r"(^|\.)(make|model)$|camera|lens", "device", "medium"),
    (r"artist|author|copyright|owner|album_artist|composer|performer|publisher|director|producer",
     "person", "high"),
    (r"creation_?time|creationdate|date|(^|[._:-])time", "time", "medium"),
    (r"title|comment|description|synopsis|keywords|lyrics|information", "comment", "medium"),
    (r"encoder|software|handler_name|vendor_id", "software", "low"),
)

# Structural tags every muxer writes; they say nothing about people.
_BORING = {"major_brand", "minor_version", "compatible_brands", "language", "vendor_id",
           "duration", "bps", "number_of_frames", "number_of_bytes", "_statistics_tags",
           "_statistics_writing_app", "_statistics_writing_date_utc"}

# Handler names the common muxers and cameras write. Any other handler name is
# free text a person or a tool chose, and can hold a name.
_DEFAULT_HANDLERS = re.compile(
    r"^(|(iso media file produced by google inc\.?)|((core media|apple|alias data|mainconcept) "
    r"(video|audio|sound|data|metadata|timecode)( media)?( handler)?)|"
    r"(video|sound|audio|data|timecode|metadata|text|subtitle|hint)(handler| handler| media handler)?|"
    r"gpac iso (video|audio) handler|l-smash (video|audio) handler|ambarella avc|"
    r"dji\.(avc|meta))$")


def video_metadata(info) -> dict[str, Any]:
    """Identifying findings in a video's container and stream tags and streams.

    Parameters
    ----------
    info : veil.media.video.VideoInfo

    Returns
    -------
    dict
        ``{"findings": [{"kind", "field", "value", "risk"}, ...]}`` as
        :func:`veil.media.metadata.image_metadata` gives for pictures.
    """
    findings = []
    for scope, tags in (info.tags or {}).items():
        for key, value in tags.items():
            low = key.lower()
            if low.split("-")[0] in _BORING:
                continue
            if low == "handler_name" and _DEFAULT_HANDLERS.match(str(value).strip().lower()):
                continue
            for pattern, kind, risk in _VIDEO_TAGS:
                if re.search(pattern, low):
                    if low == "handler_name":
                        kind, risk = "comment", "medium"  # free text in a structural slot
                    findings.append({"kind": kind, "field": f"{scope}:{key}", "value": str(value)[:300],
                                     "risk": risk})
                    break
            else:
                findings.append({"kind": "comment", "field": f"{scope}:{key}", "value": str(value)[:300],
                                 "risk": "low"})
    if info.rotation:
        findings.append({"kind": "device", "field": "display rotation", "value": int(info.rotation),
                         "risk": "low"})
    for codec in info.audio:
        findings.append({"kind": "audio", "field": "audio stream", "value": codec, "risk": "high"})
    for other in info.other_streams:
        findings.append({"kind": "stream", "field": "other stream", "value": other, "risk": "medium"})
    return {"findings": findings}
