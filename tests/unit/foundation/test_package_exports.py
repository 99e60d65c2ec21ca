"""Each package's ``__all__`` is what other code imports from it, read from the source (ast).

For every package under streams/, models/, kernels/ and schemas/ (not the generated FlatBuffers
code): a name that code outside the package (the other packages, the tests) imports from the
package itself (``from streams.etl import parse_batch``, or ``import kernels`` then
``kernels.warm_up``) is in its ``__all__``; every name in ``__all__`` is bound in its
``__init__.py``; and every name in ``__all__`` is imported that way by someone outside the package
or is named in README.md (documented public API). Submodules (``from streams.pipeline import
telemetry``) are modules, not exports, and are left out.

The layers between packages and import cycles are `lint-imports`' job (pyproject.toml).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ROOTS = ("streams", "models", "kernels", "schemas")
GENERATED = REPO / "schemas" / "generated"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _sources() -> list[Path]:
    code = [p for root in ROOTS for p in (REPO / root).rglob("*.py")]
    code += (REPO / "tests").rglob("*.py")
    return sorted(p for p in code if GENERATED not in p.parents)


def _packages() -> dict[str, Path]:
    return {
        _module_name(p): p.parent
        for root in ROOTS
        for p in (REPO / root).rglob("__init__.py")
        if GENERATED not in p.parents and p.parent != GENERATED
    }


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _is_submodule(package_dir: Path, name: str) -> bool:
    return (package_dir / f"{name}.py").exists() or (package_dir / name / "__init__.py").exists()


def _declared_all(init: Path) -> list[str] | None:
    for node in _tree(init).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            assert isinstance(node.value, ast.List | ast.Tuple), f"{init}: __all__ is not a list"
            return [ast.literal_eval(e) for e in node.value.elts]
    return None


def _bound(init: Path) -> set[str]:
    """The names an ``__init__.py`` binds at its top level."""
    names: set[str] = set()
    for node in _tree(init).body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@cache
def _uses() -> dict[str, set[tuple[str, str]]]:
    """package -> {(name, importing module)} for names taken from the package itself."""
    packages = _packages()
    uses: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in _sources():
        importer = _module_name(path)
        aliases: dict[str, str] = {}  # local name -> package, for `import kernels`
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in packages:
                for alias in node.names:
                    uses[node.module].add((alias.name, importer))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in packages:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                package = aliases.get(node.value.id)
                if package is not None:
                    uses[package].add((node.attr, importer))
    return {
        package: {
            (name, importer)
            for name, importer in found
            if not _inside(importer, package) and not _is_submodule(packages[package], name)
        }
        for package, found in uses.items()
    }


def _readme_names() -> set[str]:
    text = (REPO / "README.md").read_text()
    spans = re.findall(r"`([^`\n]+)`", text)
    return {word for span in spans for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


def test_the_scan_sees_the_packages_and_their_importers():
    packages = _packages()
    assert {"streams.etl", "streams.features", "models.serving", "kernels", "schemas"} <= set(
        packages
    )
    # known arrows, so an empty scan cannot pass the tests below
    assert ("parse_batch", "streams.pipeline.processor") in _uses()["streams.etl"]
    assert any(importer.startswith("streams.features") for _, importer in _uses()["kernels"])


def test_names_imported_from_a_package_are_in_its_all():
    missing = []
    for package, uses in sorted(_uses().items()):
        exported = _declared_all(_packages()[package] / "__init__.py") or []
        for name, importer in sorted(uses):
            if name not in exported:
                missing.append(f"{importer} imports {name} from {package}, not in its __all__")
    assert not missing, "\n".join(missing)


def test_every_name_in_all_is_bound_and_used_or_documented():
    readme = _readme_names()
    problems = []
    for package, directory in sorted(_packages().items()):
        init = directory / "__init__.py"
        exported = _declared_all(init)
        if exported is None:
            public = sorted(n for n in _bound(init) if not n.startswith("_"))
            if public:
                problems.append(f"{package}: binds {public} but declares no __all__")
            continue
        if len(set(exported)) != len(exported):
            problems.append(f"{package}: __all__ lists a name twice")
        used = {name for name, _ in _uses().get(package, ())}
        for name in exported:
            if name not in _bound(init):
                problems.append(f"{package}.__all__ names {name}, which {init} does not bind")
            elif name not in used and name not in readme:
                problems.append(
                    f"{package}.__all__ exports {name}: expected an import of it from outside "
                    "the package or a mention in README.md, found neither"
                )
    assert not problems, "\n".join(problems)
