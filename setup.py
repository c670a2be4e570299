"""Build step of the wheel: the questionnaire files and compiled catalogs become package data.

Everything else about the package is declared in pyproject.toml. The repository keeps
`questionnaires/` at the top level (where authors edit it); a wheel carries a copy inside the
package (`survey/data/questionnaires/`) and the gettext catalogs compiled to `.mo`, so an
installed package never writes into site-packages. Editable installs are left alone: they read
the repository's folder and compile catalogs into the instance folder at run time.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _i18n_module():
    """survey/i18n.py loaded by path: importing the package would need its run-time dependencies."""
    spec = importlib.util.spec_from_file_location("_survey_i18n_build", ROOT / "survey" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithData(build_py):
    """build_py, then the questionnaire copy and the compiled catalogs into build_lib."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "survey"
        target = package / "data" / "questionnaires"
        if target.exists():
            shutil.rmtree(target)  # a rebuild must not keep a file deleted from the repository
        shutil.copytree(
            ROOT / "questionnaires", target, ignore=shutil.ignore_patterns("__pycache__", ".*")
        )
        i18n = _i18n_module()
        written = i18n.compile_catalogs(i18n.CATALOGS, package / "translations", force=True)
        if not written:
            raise RuntimeError(f"no gettext catalogs found under {i18n.CATALOGS}")


setup(cmdclass={"build_py": BuildPyWithData})
