# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shapes of API data as modules return them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def to_snake(data):
    """API keys (``gpu-type``) to Ansible keys (``gpu_type``), recursively."""
    if isinstance(data, dict):
        return dict((key.replace("-", "_"), to_snake(value)) for key, value in data.items())
    if isinstance(data, list):
        return [to_snake(item) for item in data]
    return data


class AmbiguousName(Exception):
    pass


def pick_one(items, kind, name=None, resource_id=None):
    """The item with ``resource_id``, else the only one named ``name``; None if none matches."""
    if resource_id:
        matches = [item for item in items if item.get("id") == resource_id]
    else:
        matches = [item for item in items if item.get("name") == name]
    if len(matches) > 1:
        raise AmbiguousName("%d %ss are named %r (ids: %s): set id to choose one."
                            % (len(matches), kind, name, ", ".join(sorted(m.get("id", "?") for m in matches))))
    return matches[0] if matches else None
