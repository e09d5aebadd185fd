"""Views read patient data through selectors: fail if a view module calls a patient data
model's manager (``Patient.objects``, ``WorkItem.objects``, ...) itself.

A selector takes the user and scopes the rows to the teams they belong to (STYLE.md 3); a
view that reads ``<Model>.objects`` skips that scope. Patient data models are found, not
listed: ``rms.Patient`` and every model with a foreign key to it. View modules are every
``views.py`` and ``*_views.py`` of the apps. Run by ``make lint``; exits 1 on an offence.

Usage: python scripts/check_view_reads.py [PATH ...]   (default: the apps' view modules)
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("rms", "worklists", "careplans", "pkb_bridge", "clinic")
MANAGERS = {"objects", "_default_manager", "_base_manager"}

# (module path, model): the view reads rows of patients it has already scoped, and why.
JUSTIFIED = {
    # The open caseload entries prefetched onto patients that patient_list scoped.
    ("rms/views.py", "CaseloadEntry"),
    ("rms/api/views.py", "CaseloadEntry"),
    # Whether a consent record, read through the scoped selector, was withdrawn already.
    ("careplans/care_plans/api/views.py", "ConsentRecord"),
}


@dataclass(frozen=True)
class Offence:
    path: str
    line: int
    model: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: a view reads {self.model}.objects; read patient data "
            "through the app's selectors (which take the user)"
        )


def patient_data_models() -> set[str]:
    """The names of rms.Patient and every model with a foreign key (or one-to-one) to it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rms.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.apps import apps

    django.setup()
    patient = apps.get_model("rms", "Patient")
    names = {patient.__name__}
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is patient:
                names.add(model.__name__)
    return names


def view_modules(root: Path = ROOT) -> Iterator[Path]:
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            if path.name == "views.py" or path.name.endswith("_views.py"):
                yield path


def offences(source: str, *, path: str, models: set[str]) -> list[Offence]:
    """Every ``<Model>.<manager>`` of a patient data model in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in MANAGERS
            and isinstance(node.value, ast.Name)
            and node.value.id in models
            and (path, node.value.id) not in JUSTIFIED
        ):
            found.append(Offence(path=path, line=node.lineno, model=node.value.id))
    return found


def check(paths: Iterable[Path], *, models: set[str]) -> list[Offence]:
    found = []
    for path in paths:
        name = path.resolve().relative_to(ROOT).as_posix() if path.is_absolute() else str(path)
        found.extend(offences(path.read_text(), path=name, models=models))
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or list(view_modules())
    found = check(paths, models=patient_data_models())
    for offence in found:
        sys.stdout.write(f"{offence}\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
