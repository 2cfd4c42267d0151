"""Code lines per module: lines that are not blank, not comments, and not in DOCUMENTATION/EXAMPLES/RETURN.

Run from the repository root: ``python3 docs/module_sizes.py`` prints the Markdown table of
docs/development.md; ``--check`` exits 1 when a module is over its target.
"""
import ast
import sys
from pathlib import Path

MODULES = Path(__file__).resolve().parents[1] / "plugins" / "modules"
DOC_STRINGS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
# The targets of the resource layer: a module declares its resource, options and special steps.
TARGETS = {"ai_model": 40, "ai_deployment": 95, "ai_api_key": 40, "ai_fleet": 40, "ai_rollout_plan": 40}
INFO_TARGET = 30


def code_lines(path):
    source = path.read_text()
    skipped = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in DOC_STRINGS for t in node.targets):
            skipped.update(range(node.lineno, node.end_lineno + 1))
    return sum(1 for number, line in enumerate(source.splitlines(), 1)
               if number not in skipped and line.strip() and not line.strip().startswith("#"))


def target(name):
    return INFO_TARGET if name.endswith("_info") else TARGETS.get(name)


def main(argv):
    rows, over = [], []
    for path in sorted(MODULES.glob("*.py")):
        lines, limit = code_lines(path), target(path.stem)
        rows.append("| `%s` | %d | %s |" % (path.stem, lines, limit if limit else "-"))
        if limit and lines > limit:
            over.append("%s: %d code lines, target %d" % (path.stem, lines, limit))
    print("| module | code lines | target |\n| --- | --- | --- |\n" + "\n".join(rows))
    if "--check" in argv and over:
        print("over target: " + "; ".join(over), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
