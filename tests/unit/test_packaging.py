# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging: the execution-environment definition builds a valid ansible-builder context (offline), and the
generated module reference in docs/ matches the modules' documentation."""

from __future__ import absolute_import, division, print_function

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
META_EE = REPO_ROOT / "meta" / "execution-environment.yml"
AWX_EE = REPO_ROOT / "extensions" / "awx" / "execution-environment.yml"


def tool(name):
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, "%s is not installed (it is pinned in requirements-dev.txt: run make venv)" % name
    return found


def run(command, cwd, env=None):
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert process.returncode == 0, "%s failed (rc=%s):\n%s\n%s" % (
        " ".join(command), process.returncode, process.stdout[-3000:], process.stderr[-3000:])
    return process


def requirement_lines(path):
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_meta_execution_environment_is_v3_and_names_the_requirements():
    from ansible_builder.ee_schema import validate_schema  # pylint: disable=import-outside-toplevel

    definition = yaml.safe_load(META_EE.read_text(encoding="utf-8"))
    validate_schema(definition)
    assert definition["version"] == 3
    python = definition["dependencies"]["python"]
    # ansible-builder's introspection reads collection dependencies as paths relative to the collection root.
    assert isinstance(python, str) and not Path(python).is_absolute()
    assert any(line.startswith("httpx") for line in requirement_lines(REPO_ROOT / python))


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """The collection as ansible-galaxy builds it (the artefact an EE installs)."""
    out = tmp_path_factory.mktemp("dist")
    run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), str(REPO_ROOT)], cwd=out)
    found = sorted(out.glob("inferops-exoscale-*.tar.gz"))
    assert len(found) == 1, found
    return found[0]


def test_ansible_builder_create_produces_a_context_that_installs_httpx(tmp_path, tarball):
    """The shipped AWX EE definition, with the galaxy requirement pointed at the local tarball (offline)."""
    definition = yaml.safe_load(AWX_EE.read_text(encoding="utf-8"))
    shipped_requirements = yaml.safe_load((AWX_EE.parent / definition["dependencies"]["galaxy"]).read_text(encoding="utf-8"))
    assert [c["name"] for c in shipped_requirements["collections"]] == ["inferops.exoscale"]

    # Same definition; the collection comes from the tarball copied into the context instead of Galaxy.
    definition["dependencies"]["galaxy"] = {
        "collections": [{"name": "collections/%s" % tarball.name, "type": "file"}]}
    definition["additional_build_files"] = [{"src": str(tarball), "dest": "collections"}]
    ee_file = tmp_path / "execution-environment.yml"
    ee_file.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")

    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "--file", str(ee_file), "--context", str(context),
         "--output-filename", "Containerfile", "-v", "2"], cwd=tmp_path)

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert 'ARG EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect" in containerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy["collections"][0]["name"] == "collections/%s" % tarball.name
    assert (context / "_build" / "collections" / tarball.name).is_file()

    # What the image build does next: install the collection, then introspect the Python requirements of
    # every installed collection (from their meta/execution-environment.yml) with the context's own script.
    installed = tmp_path / "installed"
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(installed),
         str(context / "_build" / "collections" / tarball.name)], cwd=tmp_path)
    collection = installed / "ansible_collections" / "inferops" / "exoscale"
    assert (collection / "meta" / "execution-environment.yml").is_file(), "the tarball must ship the EE metadata"
    pip_file = tmp_path / "requirements.txt"
    process = run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(installed),
                   "--write-pip", str(pip_file)], cwd=tmp_path)
    data = yaml.safe_load(process.stdout.split("---", 1)[1])
    expected = ["%s  # from collection inferops.exoscale" % line for line in requirement_lines(REPO_ROOT / "requirements.txt")]
    assert data["python"] == expected
    assert any(line.startswith("httpx") for line in expected)
    assert pip_file.read_text(encoding="utf-8").splitlines() == expected


def _generator():
    spec = importlib.util.spec_from_file_location("generate_reference", REPO_ROOT / "docs" / "generate_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_is_up_to_date(tmp_path):
    """docs/modules and docs/roles are exactly what docs/generate_reference.py makes of the current docs."""
    generator = _generator()
    assert generator.main(["--output", str(tmp_path)]) == 0
    generated = generator.existing(tmp_path)
    committed = generator.existing(REPO_ROOT / "docs")
    modules = sorted(path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("*.py"))
    assert sorted(path for path in generated if path.startswith("modules/")) == \
        sorted(["modules/README.md"] + ["modules/%s.md" % name for name in modules])
    stale = sorted(path for path in set(generated) | set(committed) if generated.get(path) != committed.get(path))
    assert not stale, "docs reference out of date (run `make docs`): %s" % ", ".join(stale)
