# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vLLM engine arguments: the one parser of ``--flag=value`` entries, and the checks of their values.

A value is checked against the type the engine-parameter help gives (``int``, ``float``, ``bool``, ``choice``
with its allowed values) and against the ranges vLLM enforces at start-up (``RANGES``): such a value would
make the deployment end in ``error`` after the whole wait, so it is refused before any write.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

VERSION_PATTERN = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
SKIP_HINT = " (to skip this check: preflight_skip: [%s])"
LENGTH_PATTERN = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([kKmMgG]?)$")
LENGTH_UNITS = {"": 1, "k": 1000, "K": 1024, "m": 1000 ** 2, "M": 1024 ** 2, "g": 1000 ** 3, "G": 1024 ** 3}
# Flags that take vLLM's human-readable ints (32k, 1M) and the values meaning "let vLLM choose".
LENGTH_FLAGS = ("--max-model-len",)
AUTO_LENGTHS = ("-1", "auto")
# Ranges vLLM refuses outside of: flag -> (lowest, highest, whether lowest itself is allowed).
RANGES = {
    "--gpu-memory-utilization": (0.0, 1.0, False),
    "--max-num-seqs": (1, None, True),
    "--max-num-batched-tokens": (1, None, True),
    "--tensor-parallel-size": (1, None, True),
    "--pipeline-parallel-size": (1, None, True),
    "--max-model-len": (1, None, True),
    "--swap-space": (0.0, None, True),
}


def flag(parameter):
    """The flag an engine argument sets: ``--max-model-len=4096`` and ``--max-model-len 4096`` -> ``--max-model-len``."""
    return parameter.strip().split("=", 1)[0].split(None, 1)[0] if parameter.strip() else ""


def version_problem(option, version):
    if not VERSION_PATTERN.match(version):
        return "%s must be a version such as 0.28.0, got %r." % (option, version)
    return None


def parameters_problem(option, parameters):
    """What is wrong with the entries' form (values are checked against the engine's help in the preflight)."""
    for parameter in parameters:
        if not flag(parameter).startswith("-"):
            return "%s entries must start with a flag such as --max-model-len=4096, got %r." % (option, parameter)
    return None


def options(parameters):
    """``["--max-model-len=4096", "--enforce-eager"]`` -> ``{"--max-model-len": "4096", "--enforce-eager": None}``."""
    found = {}
    for parameter in parameters or []:
        parameter = parameter.strip()
        name = flag(parameter)
        rest = parameter[len(name):].lstrip("=").strip() if name else ""
        found[name] = rest or None
    return found


def parse_length(value):
    """vLLM's human-readable int: ``4096``, ``32k`` (x1000), ``32K`` (x1024), ``1m``, ``1M``; None if not one."""
    match = LENGTH_PATTERN.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    return int(float(match.group(1)) * LENGTH_UNITS[match.group(2)])


def number(name, value, kind):
    """``value`` as the int or float the flag takes, or None when it is not one."""
    if name in LENGTH_FLAGS:
        return parse_length(value)
    try:
        return int(value) if kind == "int" else float(value)
    except (TypeError, ValueError):
        return None


DEFAULT_VERSION = "0.28.0"  # the API spec's default (its newest) when this collection was released


def version_label(version):
    return version or "%s (the default)" % DEFAULT_VERSION


def value_problem(name, value, entry, version=None):
    """Why ``value`` is not a valid value of flag ``name`` (help ``entry``) for engine ``version``, or None."""
    kind = entry.get("type")
    allowed = [str(v) for v in entry.get("allowed-values") or []]
    if value is None:
        return "%s needs a value" % name if kind in ("int", "float") else None
    if allowed and value not in allowed:
        return "%s=%s is not an allowed value for engine version %s; allowed values of %s: %s" % (
            name, value, version_label(version), name, ", ".join(allowed))
    if kind not in ("int", "float") or (name in LENGTH_FLAGS and value in AUTO_LENGTHS):
        return None
    parsed = number(name, value, kind)
    if parsed is None:
        return "%s=%s is not %s, so vLLM %s refuses it at start-up" % (
            name, value, "an integer (such as 4096 or 32k)" if kind == "int" else "a number", version_label(version))
    low, high, low_allowed = RANGES.get(name, (None, None, True))
    if (low is not None and (parsed < low or (parsed == low and not low_allowed))) or (high is not None and parsed > high):
        where = "%s %s" % (">=" if low_allowed else ">", low) if high is None else "in %s%s, %s]" % (
            "[" if low_allowed else "(", low, high)
        return "%s=%s is out of range: vLLM %s refuses it at start-up; it accepts values %s" % (
            name, value, version_label(version), where)
    return None


def check(help_entries, version, parameters):
    """Each flag is known to the engine version and its value is valid for the flag's type and range; else Refused."""
    by_flag = dict((name, entry) for entry in help_entries for name in entry.get("flags") or [])
    unknown = [p for p in parameters or [] if flag(p) not in by_flag]
    if unknown:
        raise Refused("inference_engine_parameters: %s %s not known to engine version %s; known flags: %s.%s"
                      % (", ".join(unknown), "is" if len(unknown) == 1 else "are", version_label(version),
                         ", ".join(sorted(by_flag)), SKIP_HINT % "engine_parameters"),
                      details=dict(check="engine_parameters", unknown=unknown, version=version))
    for name, value in sorted(options(parameters).items()):
        problem = value_problem(name, value, by_flag[name], version)
        if problem:
            raise Refused("inference_engine_parameters: %s.%s" % (problem, SKIP_HINT % "engine_parameters"),
                          details=dict(check="engine_parameters", flag=name, value=value, version=version,
                                       allowed=[str(v) for v in by_flag[name].get("allowed-values") or []]))
