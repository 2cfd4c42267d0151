"""Print the totals of the pytest JUnit XML reports that `make test` wrote (build/reports/*.xml).

Then the reliability counts that tests/integration/test_reliability_*.py append as JSON lines to
``$RELIABILITY_REPORT`` (default ``<report_dir>/reliability.jsonl``; the last line of each test wins).
The last line has the form ``tests: N passed, N failed, N skipped``.
Exits 1 if any report has a failure or an error, or if a duplicate resource was found.
"""

from __future__ import annotations

import json
import os
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


RELIABILITY_COUNTERS = (
    ('faults_injected', 'faults injected'),
    ('faults_survived', 'survived (task succeeded, right end state)'),
    ('faults_failed_clearly', 'permanent by policy (HTTP 500): clear failure, rerun converged'),
    ('permanent_faults', 'permanent faults reported with cause and next step'),
    ('bad_inputs', 'bad inputs refused'),
    ('secret_scans', 'secret scans (secret value x output stream)'),
    ('duplicates_found', 'duplicates found'),
)


def reliability(report_dir: str) -> int:
    """Print the reliability counts; return the number of duplicates found."""
    path = Path(os.environ.get('RELIABILITY_REPORT') or Path(report_dir) / 'reliability.jsonl')
    if not path.exists():
        return 0
    latest = {}
    for line in path.read_text(encoding='utf-8').splitlines():
        if line.strip():
            entry = json.loads(line)
            latest[entry.get('test')] = entry
    totals = dict((name, sum(int(entry.get(name, 0)) for entry in latest.values())) for name, _unused in RELIABILITY_COUNTERS)
    print(f'reliability ({len(latest)} tests, {path.name}):')
    for name, label in RELIABILITY_COUNTERS:
        print(f'  {totals[name]:>5}  {label}')
    return totals['duplicates_found']


def main(report_dir: str) -> int:
    """Print one line per report, the reliability counts and the grand total."""
    duplicates = reliability(report_dir)
    grand = [0, 0, 0]
    for path in sorted(Path(report_dir).glob('*.xml')):
        passed, failed, skipped = totals(path)
        print(f'  pytest {path.stem:<12} {passed} passed, {failed} failed, {skipped} skipped')
        grand = [grand[0] + passed, grand[1] + failed, grand[2] + skipped]
    print(f'tests: {grand[0]} passed, {grand[1]} failed, {grand[2]} skipped')
    if duplicates:
        print(f'FAILED: {duplicates} duplicate resource(s) found by the reliability tests (see the counts above and the'
              f' duplicates_found entries of the reliability report), although every test passed' if not grand[1] else
              f'FAILED: also {duplicates} duplicate resource(s) found by the reliability tests')
    return 1 if grand[1] or duplicates else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'build/reports'))
