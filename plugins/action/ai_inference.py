# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs inferops.exoscale.ai_inference and shows its progress live while it waits (see plugin_utils/live_progress.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.plugin_utils.live_progress import ProgressActionBase


class ActionModule(ProgressActionBase):
    name_option = "deployment"
