"""Print the totals of the pytest JUnit XML reports that `make test` wrote (build/reports/*.xml).

The last line has the form ``tests: N passed, N failed, N skipped``.
Exits 1 if any report has a failure or an error.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def totals(path: Path) -> tuple[int, int, int]:
    """Return (passed, failed, skipped) of one JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get('tests', 0))
        failed += int(suite.get('failures', 0)) + int(suite.get('errors', 0))
        skipped += int(suite.get('skipped', 0))
    return tests - failed - skipped, failed, skipped


def main(report_dir: str) -> int:
    """Print one line per report and the grand total."""
    grand = [0, 0, 0]
    for path in sorted(Path(report_dir).glob('*.xml')):
        passed, failed, skipped = totals(path)
        print(f'  pytest {path.stem:<12} {passed} passed, {failed} failed, {skipped} skipped')
        grand = [grand[0] + passed, grand[1] + failed, grand[2] + skipped]
    print(f'tests: {grand[0]} passed, {grand[1]} failed, {grand[2]} skipped')
    return 1 if grand[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'build/reports'))
