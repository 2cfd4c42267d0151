# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs inferops.exoscale.ai_model and shows its progress, and its plan's warnings, live (see ai_deployment's action)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.action.ai_deployment import ActionModule as DeploymentAction


class ActionModule(DeploymentAction):
    name_option = "name"
