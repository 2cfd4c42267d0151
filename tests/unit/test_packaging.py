# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging: the execution-environment definition builds a valid ansible-builder context (offline), and the
generated module reference in docs/ matches the modules' documentation."""

from __future__ import absolute_import, division, print_function

import importlib.util
import shutil
import subprocess
import sys
import tarfile
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
    # Dependency metadata only (ansible-builder reads nothing else from it): the one EE definition is AWX_EE.
    as_written = yaml.safe_load(META_EE.read_text(encoding="utf-8"))  # validate_schema() adds default options
    assert set(as_written) == {"version", "dependencies"} and set(as_written["dependencies"]) <= {"python", "system"}


def test_awx_execution_environment_is_current():
    """Supported ansible-core range up to the newest tested release, and the ansible-runner the tests use."""
    from ansible_builder.ee_schema import validate_schema  # pylint: disable=import-outside-toplevel
    from packaging.requirements import Requirement  # pylint: disable=import-outside-toplevel

    definition = yaml.safe_load(AWX_EE.read_text(encoding="utf-8"))
    validate_schema(definition)
    dependencies = definition["dependencies"]
    core = Requirement(dependencies["ansible_core"]["package_pip"])
    assert core.name == "ansible-core"
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    oldest = runtime["requires_ansible"].lstrip(">=")
    for version in (oldest, "2.19.14", "2.20.0", "2.21.5"):
        assert core.specifier.contains(version), "%s must allow ansible-core %s" % (core, version)
    assert not core.specifier.contains("2.22.0"), "%s: 2.22 is not tested yet" % core
    runner = Requirement(dependencies["ansible_runner"]["package_pip"])
    pinned = [line for line in requirement_lines(REPO_ROOT / "requirements-dev.txt") if line.startswith("ansible-runner==")]
    assert [str(runner)] == pinned, "the EE must run the ansible-runner version the tests use"
    base = definition["images"]["base_image"]["name"]
    assert base == "quay.io/centos/centos:stream10", "a supported base image with Python >= 3.12 (ansible-core 2.20+)"
    assert dependencies["python_interpreter"]["python_path"] == "/usr/bin/python3"
    assert not (REPO_ROOT / "execution-environment.yml").exists(), "one EE definition: extensions/awx/"


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
    install_refs = 'ARG ANSIBLE_INSTALL_REFS="%s %s"' % (definition["dependencies"]["ansible_core"]["package_pip"],
                                                         definition["dependencies"]["ansible_runner"]["package_pip"])
    assert install_refs in containerfile
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


def test_tarball_ships_the_simulator_package_but_not_the_test_suites(tarball):
    """Users get the plugins, roles, docs and the simulator as a pip-installable folder; not the tests and dev files."""
    with tarfile.open(tarball) as archive:
        names = sorted(member.name for member in archive.getmembers() if member.isfile())
    simulator = REPO_ROOT / "tests" / "simulator"
    shipped = [path for path in simulator.rglob("*") if path.is_file() and "__pycache__" not in path.parts
               and not path.relative_to(simulator).parts[0] == "tests"]
    expected_simulator = sorted("tests/simulator/%s" % path.relative_to(simulator) for path in shipped)
    assert [name for name in names if name.startswith("tests/")] == expected_simulator
    for needed in ("plugins/inventory/ai_deployments.py", "meta/runtime.yml", "README.md", "requirements.txt"):
        assert needed in names, needed
    left_out = (".venv/", "build/", "mk/", "Makefile", "requirements-dev.txt", "pytest.ini", ".hypothesis/", ".git/")
    assert not [name for name in names if name.startswith(left_out)]


def test_demo_requirements_are_dev_pins_with_ansible_core_and_httpx():
    """`make demo` installs requirements-demo.txt only: exact pins, the same versions `make test` uses."""
    demo = requirement_lines(REPO_ROOT / "requirements-demo.txt")
    dev = set(requirement_lines(REPO_ROOT / "requirements-dev.txt"))
    assert all("==" in line for line in demo), demo
    assert sorted(set(demo) - dev) == [], "requirements-demo.txt pins versions requirements-dev.txt does not"
    names = {line.split("==")[0].lower() for line in demo}
    assert {"ansible-core", "httpx"} <= names and len(demo) < 25


def test_tarball_ships_license_role_readmes_docsite_and_awx_files(tarball):
    """What galaxy-importer and the docsite need from the artefact (mk/galaxy.mk imports it, without a container)."""
    with tarfile.open(tarball) as archive:
        names = {member.name for member in archive.getmembers() if member.isfile()}
        license_text = archive.extractfile("LICENSE").read().decode("utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 3, 29 June 2007" in license_text
    roles = sorted(path.name for path in (REPO_ROOT / "roles").iterdir() if path.is_dir())
    assert [role for role in roles if "roles/%s/README.md" % role not in names] == [], "galaxy-importer: no role readme"
    docsite = {"docs/docsite/links.yml", "docs/docsite/extra-docs.yml"} | {
        "docs/docsite/rst/%s" % path.name for path in (REPO_ROOT / "docs" / "docsite" / "rst").glob("*.rst")}
    assert docsite <= names and "docs/docsite/generate_rst.py" not in names
    assert {"extensions/awx/execution-environment.yml", "extensions/awx/credential_type.yml",
            "extensions/awx/credential_type.awx-import.json", "meta/execution-environment.yml"} <= names
