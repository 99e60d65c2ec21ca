"""Versioned model registry under ``<state_dir>/models``.

Layout, per task (``churn``, ``upsell``)::

    models/<task>/v0003/manifest.json   immutable: kind, fingerprint, entity kinds scored,
                                        training range, metrics, parent, artifacts, created time
    models/<task>/v0003/model/          the model (model.json + kind files, e.g. model.keras,
                                        model.tflite: the exported inference artifact,
                                        serving.json: the engine measured at save time)
    models/<task>/v0003/baseline/       a logistic baseline on the same features (last fallback)
    models/<task>/v0003/pipeline.json   the fitted feature pipeline the model was trained with
    models/<task>/state.json            mutable: status of each version, champion history

Names: a task is one of :data:`TASKS`, a version matches :data:`VERSION_PATTERN` (``v`` and four
or more digits, what :meth:`ModelRegistry.register` writes). Any other name is refused with a
:class:`~models.errors.RegistryError` before it touches a path, so nothing the registry reads or
writes lies outside its folder (a name from a model event cannot point it at ``../elsewhere``).

Crash safety: a version is assembled in a hidden temporary directory and renamed into place
(readers never see half a version); ``state.json`` is replaced atomically (write, fsync,
rename). Writers take an advisory lock so two promotions do not interleave.

Entity kinds: a manifest names the entity kinds its model scores (``entity_kinds``, from the
model's own :attr:`~models.contract.ScoringModel.entity_kinds`); a version registered before
the field existed reads as :data:`~models.contract.DEFAULT_ENTITY_KINDS` (users), what churn
and upsell models were always made for.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.contract import (
    DEFAULT_ENTITY_KINDS,
    ScoringModel,
    check_entity_kinds,
    write_json_atomic,
)
from models.errors import ModelLoadError, RegistryError
from models.kinds import load_model

__all__ = [
    "ImportLimits",
    "ModelRegistry",
    "Status",
    "TASKS",
    "VERSION_PATTERN",
    "VersionInfo",
    "check_task",
    "check_version",
]

Status = Literal["champion", "challenger", "retired"]
TASKS: tuple[str, ...] = ("churn", "upsell")
VERSION_PATTERN = re.compile(r"v\d{4,9}")
"""A version name as the registry writes it: ``v0001``, ``v0002``, ... (full match)."""


def check_task(task: object) -> str:
    """``task`` if it is one of :data:`TASKS`; else :class:`RegistryError` naming the choices."""
    if not isinstance(task, str) or task not in TASKS:
        raise RegistryError(f"model task: expected one of {list(TASKS)}, got {task!r}")
    return task


def check_version(version: object) -> str:
    """``version`` if it matches :data:`VERSION_PATTERN`; else :class:`RegistryError`."""
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise RegistryError(
            f"model version: expected a name like 'v0003' ('v' and 4 to 9 digits), "
            f"got {str(version)[:80]!r}"
        )
    return version


@dataclass(frozen=True)
class ImportLimits:
    """What :meth:`ModelRegistry.import_version` accepts from an archive (a model event's
    files). A registry version is a few files of a few MB (Keras and LiteRT models, a
    baseline, the pipeline, drift histograms) that gzip 1.2-5x; a zip bomb is far beyond."""

    max_bytes: int = 1 << 30
    """Total bytes extracted (the sum of the members' sizes)."""
    max_members: int = 256
    """Files and directories in the archive."""
    max_ratio: float = 200.0
    """Extracted bytes per byte of the compressed archive."""


@dataclass(frozen=True)
class VersionInfo:
    task: str
    version: str
    kind: str
    fingerprint: str
    created_ms: int
    train_range: dict[str, Any]
    metrics: dict[str, Any]
    parent: str | None
    status: str
    path: Path
    artifacts: tuple[str, ...]
    entity_kinds: tuple[str, ...] = tuple(DEFAULT_ENTITY_KINDS)
    """The entity kinds the version's model scores (users when its manifest names none)."""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        d["artifacts"] = list(self.artifacts)
        d["entity_kinds"] = [str(k) for k in self.entity_kinds]
        return d


class ModelRegistry:
    """Versions of models per task, with champion/challenger/retired status."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings) -> ModelRegistry:
        return cls(Path(settings.state_dir) / "models")

    # -- paths and state ------------------------------------------------------------------
    def _task_dir(self, task: str) -> Path:
        return self.root / check_task(task)

    def _version_dir(self, task: str, version: str) -> Path:
        """The directory of ``task``/``version``, refusing names that are not the registry's
        own (a version is one path component under the task's folder, never ``..``)."""
        return self._task_dir(task) / check_version(version)

    def _read_state(self, task: str) -> dict[str, Any]:
        path = self._task_dir(task) / "state.json"
        if not path.exists():
            return {"status": {}, "champions": []}
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise RegistryError(f"reading registry state {path}: not valid JSON ({exc})") from exc

    @contextmanager
    def _locked(self, task: str) -> Iterator[dict[str, Any]]:
        """Hold the task's write lock; yields its state, written back atomically on success."""
        tdir = self._task_dir(task)
        tdir.mkdir(parents=True, exist_ok=True)
        with open(tdir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read_state(task)
            yield state
            write_json_atomic(tdir / "state.json", state)

    # -- writing --------------------------------------------------------------------------
    def register(
        self,
        task: str,
        model: ScoringModel,
        *,
        baseline: ScoringModel | None = None,
        pipeline=None,
        train_range: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        parent: str | None = None,
        status: Status = "challenger",
        drift_reference: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Store a trained ``model`` (and optional ``baseline`` and fitted ``pipeline``) as the
        next version of ``task``. ``status="champion"`` also promotes it. ``drift_reference``
        (arrays, see :func:`kernels.drift.make_reference`) goes to ``drift_reference.npz``."""
        tdir = self._task_dir(task)
        tdir.mkdir(parents=True, exist_ok=True)
        tmp = tdir / f".tmp-{uuid.uuid4().hex}"
        try:
            model.save(tmp / "model")
            if baseline is not None:
                if tuple(baseline.feature_names) != tuple(model.feature_names):
                    raise RegistryError(
                        f"registering {task}: the baseline's features differ from the model's"
                    )
                if tuple(baseline.entity_kinds) != tuple(model.entity_kinds):
                    raise RegistryError(
                        f"registering {task}: expected the baseline to score the model's entity "
                        f"kinds {[str(k) for k in model.entity_kinds]}, got "
                        f"{[str(k) for k in baseline.entity_kinds]}"
                    )
                baseline.save(tmp / "baseline")
            if pipeline is not None:
                if pipeline.fingerprint != model.fingerprint:
                    raise RegistryError(
                        f"registering {task}: model trained with pipeline {model.fingerprint}, "
                        f"got pipeline {pipeline.fingerprint}"
                    )
                pipeline.save(tmp / "pipeline.json")
            if drift_reference is not None:
                import numpy as np

                np.savez(tmp / "drift_reference.npz", **drift_reference)
            manifest = {
                "task": task,
                "kind": model.kind,
                "fingerprint": model.fingerprint,
                "entity_kinds": [str(k) for k in model.entity_kinds],
                "created_ms": int(time.time() * 1000),
                "train_range": train_range or {},
                "metrics": metrics or {},
                "parent": parent,
                "describe": model.describe(),
                "artifacts": sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
            }
            write_json_atomic(tmp / "manifest.json", manifest)
            with self._locked(task) as state:
                version = self._next_version(tdir)
                os.rename(tmp, tdir / version)  # atomic: the version appears complete
                state["status"][version] = "challenger"
                if status == "champion":
                    self._promote_in(state, version)
                elif status == "retired":
                    state["status"][version] = "retired"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.get(task, version)

    @staticmethod
    def _next_version(tdir: Path) -> str:
        nums = [int(p.name[1:]) for p in tdir.glob("v[0-9]*") if p.name[1:].isdigit()]
        return f"v{max(nums, default=0) + 1:04d}"

    @staticmethod
    def _promote_in(state: dict[str, Any], version: str) -> None:
        for v, s in state["status"].items():
            if s == "champion":
                state["status"][v] = "retired"
        state["status"][version] = "champion"
        state["champions"].append(version)

    def promote(self, task: str, version: str) -> VersionInfo:
        """Make ``version`` the champion; the previous champion becomes retired."""
        self.get(task, version)
        with self._locked(task) as state:
            self._promote_in(state, version)
        return self.get(task, version)

    def rollback(self, task: str) -> VersionInfo:
        """Retire the champion and reinstate the previous one (from the champion history)."""
        with self._locked(task) as state:
            history = state["champions"]
            if len(history) < 2:
                raise RegistryError(
                    f"rollback {task}: expected a previous champion, found history {history}"
                )
            current = history.pop()
            state["status"][current] = "retired"
            state["status"][history[-1]] = "champion"
            version = history[-1]
        return self.get(task, version)

    def record_decision(self, task: str, decision: dict[str, Any]) -> None:
        """Append a retraining/gate decision (JSON-able: version, metrics, reason, ...) to the
        task's decision log in ``state.json`` (the last 200 are kept)."""
        with self._locked(task) as state:
            state.setdefault("decisions", []).append(decision)
            del state["decisions"][:-200]

    def decisions(self, task: str) -> list[dict[str, Any]]:
        """The task's recorded decisions, oldest first."""
        return list(self._read_state(task).get("decisions", []))

    def make_champion(self, task: str, version: str) -> bool:
        """Promote ``version`` unless it is already the champion; returns whether it changed.

        Idempotent, so every worker (sharing a registry directory or not) can apply the same
        model event."""
        self.get(task, version)
        with self._locked(task) as state:
            if state["champions"] and state["champions"][-1] == version:
                return False
            self._promote_in(state, version)
        return True

    def export_version(self, task: str, version: str) -> bytes:
        """The version's directory as a gzip'd tar (what a model event carries)."""
        info = self.get(task, version)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(info.path, arcname=version)
        return buf.getvalue()

    def import_version(
        self, task: str, version: str, data: bytes, limits: ImportLimits = ImportLimits()
    ) -> VersionInfo:
        """Install a version exported by :meth:`export_version` unless one of that name is
        already here (then the local one is kept). Unpacked aside and renamed into place.

        Refused with :class:`RegistryError`: a task or version name that is not the
        registry's own, a member outside ``<version>/`` or not a plain file or directory,
        and an archive beyond ``limits`` (checked on the members' headers while reading, so a
        bomb is stopped before it is extracted)."""
        vdir = self._version_dir(task, version)
        tdir = vdir.parent
        if (vdir / "manifest.json").exists():
            return self.get(task, version)
        tdir.mkdir(parents=True, exist_ok=True)
        tmp = tdir / f".tmp-{uuid.uuid4().hex}"
        try:
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                    members = _checked_members(tar, f"{task}/{version}", version, len(data), limits)
                    tar.extractall(tmp, members=members, filter="data")
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise RegistryError(
                    f"importing {task}/{version}: expected a gzip'd tar of the version "
                    f"directory, got {len(data)} bytes that do not read as one ({exc!r})"
                ) from exc
            try:
                os.rename(tmp / version, vdir)
            except OSError:  # another process installed it first
                if not (vdir / "manifest.json").exists():
                    raise
            with self._locked(task) as state:
                state["status"].setdefault(version, "challenger")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.get(task, version)

    # -- reading --------------------------------------------------------------------------
    def versions(self, task: str) -> list[VersionInfo]:
        tdir = self._task_dir(task)
        if not tdir.exists():
            return []
        names = sorted(
            p.name for p in tdir.glob("v[0-9]*") if p.is_dir() and VERSION_PATTERN.fullmatch(p.name)
        )
        return [self.get(task, v) for v in names]

    def get(self, task: str, version: str) -> VersionInfo:
        vdir = self._version_dir(task, version)
        try:
            m = json.loads((vdir / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"model registry: expected version {task}/{version} with a manifest under "
                f"{self._task_dir(task)}, got {exc!r}"
            ) from exc
        status = self._read_state(task)["status"].get(version, "challenger")
        return VersionInfo(
            task=task,
            version=version,
            kind=m["kind"],
            fingerprint=m["fingerprint"],
            created_ms=m["created_ms"],
            train_range=m["train_range"],
            metrics=m["metrics"],
            parent=m["parent"],
            status=status,
            path=vdir,
            artifacts=tuple(m["artifacts"]),
            entity_kinds=self._entity_kinds(m, vdir),
        )

    @staticmethod
    def _entity_kinds(manifest: dict[str, Any], vdir: Path) -> tuple[str, ...]:
        """The manifest's entity kinds; users (the default) for a manifest without them."""
        try:
            kinds = check_entity_kinds(
                manifest.get("entity_kinds", DEFAULT_ENTITY_KINDS),
                f"reading {vdir / 'manifest.json'}: entity_kinds",
            )
        except ModelLoadError as exc:
            raise RegistryError(str(exc)) from None
        return tuple(str(k) for k in kinds)

    def champion(self, task: str) -> VersionInfo | None:
        history = self._read_state(task)["champions"]
        return self.get(task, history[-1]) if history else None

    def previous_champion(self, task: str) -> VersionInfo | None:
        """The champion before the current one (the first fallback), if any."""
        history = self._read_state(task)["champions"]
        return self.get(task, history[-2]) if len(history) >= 2 else None

    def load(
        self,
        task: str,
        version: str,
        *,
        fingerprint: str | None = None,
        part: Literal["model", "baseline"] = "model",
    ) -> ScoringModel:
        """Load a version's model (or its baseline), checking the feature fingerprint."""
        info = self.get(task, version)
        path = info.path / part
        if not path.exists():
            raise ModelLoadError(f"loading {task}/{version}: it has no {part} at {path}")
        return load_model(path, fingerprint=fingerprint)

    def load_pipeline(self, task: str, version: str):
        """The fitted feature pipeline stored with a version."""
        from streams.features import FittedPipeline

        return FittedPipeline.load(self.get(task, version).path / "pipeline.json")


def _checked_members(
    tar: tarfile.TarFile, what: str, version: str, compressed: int, limits: ImportLimits
) -> list[tarfile.TarInfo]:
    """The archive's members, read header by header and refused (:class:`RegistryError`) as
    soon as one is unsafe or the archive goes beyond ``limits``."""
    max_bytes = min(limits.max_bytes, int(limits.max_ratio * max(compressed, 1)))
    members: list[tarfile.TarInfo] = []
    total = 0
    for m in tar:
        if not (m.name == version or m.name.startswith(version + "/")) or not (
            m.isfile() or m.isdir()
        ):
            raise RegistryError(
                f"importing {what}: expected only files under {version}/, found {m.name!r}"
            )
        members.append(m)
        total += m.size
        if len(members) > limits.max_members:
            raise RegistryError(
                f"importing {what}: expected at most {limits.max_members} members in the "
                "archive, found more"
            )
        if total > max_bytes:
            raise RegistryError(
                f"importing {what}: expected at most {max_bytes} extracted bytes (limit "
                f"{limits.max_bytes} bytes, or {limits.max_ratio:g}x the {compressed}-byte "
                f"archive), found {total} bytes in its first {len(members)} members"
            )
    return members
