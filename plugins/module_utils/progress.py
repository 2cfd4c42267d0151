# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a waiting module tells the controller while it waits, for the live progress lines.

The collection's action plugins (``plugins/plugin_utils/live_progress.py``) set ``INFEROPS_PROGRESS_FILE``
in the environment of a module they run over a local connection, and show each line the module appends to
that file as it comes. Anywhere else (a remote host, ``become``, ``async``, progress switched off) the
variable is not set and ``report`` does nothing.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

PROGRESS_FILE_VARIABLE = "INFEROPS_PROGRESS_FILE"


def enabled():
    return bool(os.environ.get(PROGRESS_FILE_VARIABLE))


DETAIL_CHARS = 100


def short(detail):
    """A detail for one progress line: its first line, clipped (a failure's message quotes it in full, once)."""
    text = (detail or "").strip().splitlines()[0] if (detail or "").strip() else ""
    return (text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 4].rstrip() + " ...") or None


def report(kind, name, state, seconds, detail=None, warning=None):
    """Tell the controller that ``kind`` (model, deployment, inference) ``name`` is in ``state`` after ``seconds``.

    ``detail`` is a short text shown after the state (state details, a retry count); ``warning`` a warning of
    the task's plan, shown at once (state ``plan``). A no-op unless enabled.
    """
    path = os.environ.get(PROGRESS_FILE_VARIABLE)
    if not path:
        return
    event = dict(kind=kind, name=name, state=state, seconds=round(float(seconds), 1), detail=short(detail))
    if warning:
        event["warning"] = warning
    try:
        with open(path, "a") as stream:  # one short line per write: appends of it are atomic
            stream.write(json.dumps(event) + "\n")
    except (IOError, OSError):
        pass  # progress is best effort: it must never fail the task
