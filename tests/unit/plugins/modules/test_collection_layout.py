# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Collection-wide contracts checked on the files: the action group, and plugins that stand alone."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[4]


def module_names():
    return sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


def test_action_group_all_lists_exactly_the_modules():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    group = runtime["action_groups"]["all"]
    assert len(group) == len(set(group)), "duplicates in action_groups.all: %s" % group
    assert sorted(group) == module_names()


def test_every_module_documents_the_action_group():
    for name in module_names():
        text = (ROOT / "plugins" / "modules" / ("%s.py" % name)).read_text()
        assert "inferops.exoscale.api.actiongroup" in text, name


def test_plugins_never_import_the_simulator():
    pattern = re.compile(r"^\s*(from|import)\s+tests(\.|\s|$)|tests\.simulator", re.MULTILINE)
    offenders = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if pattern.search(text) or "tests/simulator" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
