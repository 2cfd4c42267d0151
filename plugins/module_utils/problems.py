# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one way a module refuses: input or a preflight check that cannot work, said before any write."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class Refused(Exception):
    """The message names the option, the value given and what is allowed (or the numbers that decide it).

    ``details`` carries structured findings for the result (for example a preflight's figures or a
    diagnosis); ``wrote`` is True when the task had already written before it refused.
    """

    def __init__(self, message, details=None, wrote=False):
        super(Refused, self).__init__(message)
        self.details = details or {}
        self.wrote = wrote
