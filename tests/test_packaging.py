"""What a normal install ships: the wheel, installed in a fresh virtual environment, runs the app.

The wheel is built from a copy of the source tree (tracked-looking files only: no virtualenv,
no build/ leftovers, no compiled catalogs), so it holds only what the build produces. It is
installed with `pip install --no-deps` into a new virtual environment; the run-time dependencies
are not downloaded again but reached through a `.pth` file that appends this test environment's
site-packages to the new one's `sys.path`. That is safe for the proof: a path listed in a `.pth`
file is added as a plain directory, so the `.pth` files inside it, among them the editable
install's hook that points at this repository, are never processed, and the fresh
site-packages comes first on `sys.path` anyway. The test then checks that the `survey` that ran
is the one in the fresh site-packages, and runs everything from a working directory that has no
`questionnaires/` folder. The build uses `--no-isolation` (setuptools, build and Babel come with
the test extra), so it needs no network.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[1]
# Work folders at the top of the checkout (survey/exports/ is a package: only the top level).
NOT_SOURCES_AT_TOP = {".git", ".venv", "venv", "build", "dist", "instance", "exports"}
NOT_SOURCES_ANYWHERE = shutil.ignore_patterns(
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    "*.mo",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.db",
    "*.db-wal",
    "*.db-shm",
)


def _not_sources(folder: str, names: list[str]) -> set[str]:
    ignored = set(NOT_SOURCES_ANYWHERE(folder, names))
    if Path(folder) == ROOT:
        ignored |= NOT_SOURCES_AT_TOP & set(names)
    return ignored


def _clean_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a user who installed the wheel: no project settings, no PYTHONPATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SURVEY_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    return env


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=180, **kwargs)
    assert result.returncode == 0, (
        f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def _files(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time, bytecode caches left out."""
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, site-packages, env): the wheel built from a clean copy, installed in a fresh venv."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_not_sources)
    assert not list(source.rglob("*.mo")), "the copy must start without compiled catalogs"
    dist = base / "dist"
    _run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), "."],
        cwd=source,
    )
    [wheel] = dist.glob("survey-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
        + ["--no-index", "--disable-pip-version-check", "-q", str(wheel)]
    )
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    home = base / "home"
    home.mkdir()
    return venv, site, _clean_env(venv, home)


@pytest.fixture
def workdir(tmp_path):
    """A working directory with no questionnaires/ folder and no project files."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def test_the_installed_wheel_is_what_runs_not_the_repository(installed, workdir):
    venv, site, env = installed
    probe = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import survey, survey.questionnaire as q; "
            "print(survey.__file__); print(q.default_directory())",
        ],
        cwd=workdir,
        env=env,
    )
    module, questionnaires = probe.stdout.split()
    assert Path(module) == site / "survey" / "__init__.py"
    assert Path(questionnaires) == site / "survey" / "data" / "questionnaires"
    assert not str(Path(module)).startswith(str(ROOT))
    # Catalogs were compiled when the wheel was built, for every language.
    for lang in ("ar", "es", "fr", "ru", "zh"):
        assert (site / "survey" / "translations" / lang / "LC_MESSAGES" / "messages.mo").is_file()
        # The questionnaire's translation files travel with it.
        assert (Path(questionnaires) / "translations" / f"{lang}.yaml").is_file()


def test_installed_wheel_inits_checks_and_serves_a_french_page(installed, workdir):
    venv, site, env = installed
    survey = str(venv / "bin" / "survey")
    init = _run([survey, "init"], cwd=workdir, env=env)
    assert "Database ready at instance/survey.db" in init.stdout
    assert "Created the first administrator" in init.stdout
    check = _run([survey, "questionnaire", "check", "--languages"], cwd=workdir, env=env)
    assert "provisions, all valid" in check.stdout
    assert "All translations are present." in check.stdout
    for lang in ("ar", "es", "fr", "ru", "zh"):
        assert f"{lang} provisions (working translation): titles 273/273, summaries 273/273" in (
            check.stdout
        )

    package_before = _files(site / "survey")
    port = free_port()
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [survey, "serve", "--port", str(port), "--workers", "1"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the master and its worker in one group, stopped together
        )
        try:
            page = _get_when_up(server, port, "/login", {"Accept-Language": "fr"}, log_path)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
    assert page.status == 200
    body = page.body
    assert '<html lang="fr"' in body
    assert "Se connecter" in body  # "Log in" from the French catalog
    assert "Mot de passe" in body
    # The app wrote nothing into site-packages, and used the catalogs built into the wheel.
    assert _files(site / "survey") == package_before
    assert not (workdir / "instance" / "translations").exists()
    assert (workdir / "instance" / "survey.db").is_file()


class _Page:
    def __init__(self, status: int, body: str):
        self.status = status
        self.body = body


def _get_when_up(server, port, path, headers, log_path, timeout=60) -> _Page:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, log_path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "survey serve did not answer within 60 s"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return _Page(response.status, response.read().decode("utf-8"))
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
