# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""GPU memory per Exoscale GPU family, for the preflight fit check.

Source: the card of each family as Exoscale's GPU offers name it (https://www.exoscale.com/gpu/) with its
nominal memory from NVIDIA's data sheet ("24 GB"), and the memory CUDA reports for such a card, which is
what vLLM budgets with: a 24 GB card shows "a total capacity of 23.68 GiB" in vLLM's out-of-memory message,
so a family's usable memory is its nominal size x 23.68/24 GiB.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

GIB = 1024 ** 3
CUDA_VISIBLE = 23.68 / 24  # GiB CUDA reports per nominal GB of the card

# family: (card, nominal memory per GPU in GB)
GPU_FAMILIES = {
    "gpu": ("NVIDIA Tesla P100", 16),
    "gpu2": ("NVIDIA Tesla V100", 16),
    "gpu3": ("NVIDIA A40", 48),
    "gpua30": ("NVIDIA A30", 24),
    "gpu3080ti": ("NVIDIA GeForce RTX 3080 Ti", 12),
    "gpua5000": ("NVIDIA RTX A5000", 24),
    "gpurtx6000pro": ("NVIDIA RTX PRO 6000 Blackwell", 96),
}


def memory_bytes(family):
    """Memory of one GPU of ``family`` in bytes as CUDA reports it, or None when the family is not in the table."""
    entry = GPU_FAMILIES.get(family)
    return int(entry[1] * CUDA_VISIBLE * GIB) if entry else None


def card(family):
    entry = GPU_FAMILIES.get(family)
    return "%s %d GB" % entry if entry else None


def gibibytes(size):
    """``15231233024`` -> ``"14.19 GiB"`` (binary, as vLLM and CUDA quote memory)."""
    return "%.2f GiB" % (size / float(GIB))
