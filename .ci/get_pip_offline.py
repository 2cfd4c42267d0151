"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test bootstraps pip in every virtual environment it creates by running
``~/.ansible/test/cache/get_pip_<version>.py`` (through its quiet_pip wrapper)
with pip install arguments such as ``--disable-pip-version-check pip==24.2
--no-setuptools --no-wheel``. The real script comes from a host this machine
cannot reach, so ``make venv`` copies this file to that path instead, and puts
the wheel of that pip version in ``wheels/`` beside it (downloaded once with the
machine's pip configuration).

With that wheel and uv on PATH (``make`` puts the dev venv's bin first), uv
installs it offline: about 0.2 CPU-s, where ensurepip followed by
``pip install pip==<version>`` (pip and setuptools installed, then pip
replaced) takes about 7 CPU-s, once per environment; ansible-test creates about
ten of them on a fresh machine. Offline because ansible-test runs this with a
reduced environment (no CA bundle variables). Without uv or the wheel, or if
uv fails: ensurepip in a subprocess (not in-process, so that the child pip sees
the machine's pip configuration, index and CA bundle, untouched), then pip
installs the requested packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel', '--no-pip')
WHEELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'wheels')


def install_with_uv(packages: list[str]) -> bool:
    """True once uv installed ``packages`` into this interpreter's environment from WHEELS."""
    uv = shutil.which('uv')
    if not uv or not packages or not os.path.isdir(WHEELS):
        return False
    command = [uv, 'pip', 'install', '--quiet', '--offline', '--no-index', '--find-links', WHEELS,
               '--python', sys.executable] + packages
    return subprocess.call(command) == 0


def main() -> int:
    """Bootstrap pip (uv when it can, else ensurepip), then install the remaining arguments."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    packages = [arg for arg in args if not arg.startswith('-')]
    if install_with_uv(packages):
        return 0
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
    if not packages:
        return 0
    return subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    sys.exit(main())
