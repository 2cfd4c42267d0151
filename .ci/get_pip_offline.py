"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test bootstraps pip in every virtual environment it creates by running
``~/.ansible/test/cache/get_pip_<version>.py`` (through its quiet_pip wrapper)
with pip install arguments such as ``--disable-pip-version-check pip==24.2
--no-setuptools --no-wheel``. The real script comes from a host this machine
cannot reach, so ``make venv`` copies this file to that path instead.

ensurepip runs in a subprocess (not in-process) so that the child pip sees the
machine's pip configuration (index, CA bundle) untouched; then pip installs the
requested packages.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel', '--no-pip')


def main() -> int:
    """Bootstrap pip with ensurepip, then pip install the remaining arguments."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
    packages = [arg for arg in args if not arg.startswith('-')]
    if not packages:
        return 0
    return subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    sys.exit(main())
