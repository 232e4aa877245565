"""A person's corrections to a run, as data, and how they apply.

:mod:`veil.edits.model` is the edits file (schema ``veil-edits/1``,
documented in ``docs/EDITS.md``); :mod:`veil.edits.apply` applies one file's
edits to the boxes the run found.
"""

from .jobs import attach_edits
from .apply import LEFT_VISIBLE_NOTE, MATCH_IOU, AppliedEdits, apply_edits, excuse_left_visible
from .model import (DETECTION_FIELDS, EDITS_NAME, SCHEMA, AddedRegion, Edits, Extension, FileEdits, ItemRef, KeyFrame,
                    detection_settings, load_edits, save_edits)

__all__ = ["SCHEMA", "EDITS_NAME", "DETECTION_FIELDS", "MATCH_IOU", "LEFT_VISIBLE_NOTE", "ItemRef", "KeyFrame", "AddedRegion",
           "Extension", "FileEdits", "Edits", "AppliedEdits", "detection_settings", "load_edits", "save_edits",
           "apply_edits", "excuse_left_visible", "attach_edits"]
