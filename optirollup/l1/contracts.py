"""Compile the L1 contracts and load their ABI and bytecode with plain Python.

Decision: **node code never imports ape**. Artifacts are JSON files in ``.build/optirollup-l1/``
(one per contract: ABI, init and runtime bytecode, the compiler version and a hash of the
sources they were built from). :func:`load` returns the cached artifact when its source hash
matches the current sources; otherwise it compiles with the ``vyper`` package (a dev
dependency) through its Python API, under a file lock so parallel test workers compile once,
and writes the artifact atomically. A deployment that ships without the Vyper compiler must
ship ``.build/optirollup-l1/`` built by ``python -m optirollup.l1.contracts``.

The source hash covers the contract and every project file it imports, found by following
its ``import`` / ``from … import`` lines (``ethereum.ercs`` and other built-ins are skipped).

Environment overrides: ``OPTIROLLUP_CONTRACTS_DIR`` (the ``contracts/`` folder) and
``OPTIROLLUP_BUILD_DIR`` (where artifacts go).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optirollup.errors import OptiRollupError

__all__ = [
    "DEPLOYABLE",
    "Artifact",
    "ArtifactError",
    "build_dir",
    "compile_all",
    "contracts_dir",
    "load",
    "source_hash",
]

DEPLOYABLE = ("MockToken", "Vault", "Rollup", "DisputeGame")
"""The contracts :func:`optirollup.l1.deploy.deploy` always deploys (verifiers come on top)."""

_ARTIFACT_FORMAT = 1
_REPO_ROOT = Path(__file__).resolve().parents[2]
_IMPORT_RE = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<base>[.\w]+)[ \t]+import[ \t]+(?P<names>[\w, \t]+)"
    r"|import[ \t]+(?P<module>[.\w]+))",
    re.MULTILINE,
)


class ArtifactError(OptiRollupError):
    """A contract artifact that is missing, stale or cannot be built."""


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what web3 needs to deploy it and talk to it."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime: bytes
    compiler: str
    source_hash: str

    def to_json(self) -> dict[str, Any]:
        """Return the artifact as a JSON-serializable dict."""
        return {
            "format": _ARTIFACT_FORMAT,
            "name": self.name,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "runtime": "0x" + self.runtime.hex(),
            "compiler": self.compiler,
            "source_hash": self.source_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        """Build an artifact from :meth:`to_json` output."""
        if data.get("format") != _ARTIFACT_FORMAT:
            raise ArtifactError(f"artifact {data.get('name')!r} has an unknown format; rebuild it")
        return cls(
            name=str(data["name"]),
            abi=list(data["abi"]),
            bytecode=bytes.fromhex(str(data["bytecode"])[2:]),
            runtime=bytes.fromhex(str(data["runtime"])[2:]),
            compiler=str(data["compiler"]),
            source_hash=str(data["source_hash"]),
        )


def contracts_dir() -> Path:
    """Return the ``contracts/`` folder (``OPTIROLLUP_CONTRACTS_DIR`` overrides)."""
    return Path(os.environ.get("OPTIROLLUP_CONTRACTS_DIR", _REPO_ROOT / "contracts"))


def build_dir() -> Path:
    """Return the artifact folder (``OPTIROLLUP_BUILD_DIR`` overrides)."""
    return Path(os.environ.get("OPTIROLLUP_BUILD_DIR", _REPO_ROOT / ".build" / "optirollup-l1"))


def _source_path(name: str) -> Path:
    """Return the source of contract ``name`` (``"Vault"`` or ``"steps/DepositStep"``)."""
    path = contracts_dir() / f"{name}.vy"
    if not path.is_file():
        raise ArtifactError(
            f"contract {name!r}: no source at {path}; check the name or OPTIROLLUP_CONTRACTS_DIR"
        )
    return path


def _resolve_import(root: Path, here: Path, dotted: str) -> Path | None:
    """Return the project file a dotted import names, or None (a built-in or a folder)."""
    level = len(dotted) - len(dotted.lstrip("."))
    parts = [p for p in dotted.lstrip(".").split(".") if p]
    if not parts:
        return None
    base = here.parent if level else root
    for _ in range(max(level - 1, 0)):
        base = base.parent
    stem = base.joinpath(*parts)
    for suffix in (".vy", ".vyi"):
        path = stem.with_name(stem.name + suffix)
        if path.is_file():
            return path
    return None


def _dependencies(path: Path) -> list[Path]:
    """Return ``path`` and every project source it imports, transitively, in a stable order."""
    root = contracts_dir()
    seen: dict[Path, None] = {}
    todo = [path.resolve()]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen[current] = None
        text = current.read_text()
        for m in _IMPORT_RE.finditer(text):
            if m.group("module"):
                targets = [m.group("module")]
            else:
                base = m.group("base")
                names = [n.strip() for n in m.group("names").split(",") if n.strip()]
                sep = "" if base.endswith(".") else "."
                targets = [f"{base}{sep}{n}" for n in names]
            for dotted in targets:
                found = _resolve_import(root, current, dotted)
                if found is not None:
                    todo.append(found.resolve())
    return sorted(seen)


def source_hash(name: str) -> str:
    """Return the sha256 over contract ``name``'s sources (its file and its imports)."""
    root = contracts_dir().resolve()
    digest = hashlib.sha256()
    for dep in _dependencies(_source_path(name)):
        rel = dep.relative_to(root) if dep.is_relative_to(root) else dep
        digest.update(str(rel).encode() + b"\0" + dep.read_bytes() + b"\0")
    return digest.hexdigest()


def _artifact_path(name: str) -> Path:
    return build_dir() / f"{name.replace('/', '__')}.json"


def _read_cached(name: str, wanted_hash: str) -> Artifact | None:
    path = _artifact_path(name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    art = Artifact.from_json(data)
    return art if art.source_hash == wanted_hash else None


@contextmanager
def _build_lock() -> Iterator[None]:
    """Hold an exclusive lock on the build folder (parallel workers compile one at a time)."""
    folder = build_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _compile(name: str, wanted_hash: str) -> Artifact:
    """Compile contract ``name`` with the vyper package."""
    try:
        import vyper
        from vyper.compiler.input_bundle import FilesystemInputBundle
    except ImportError as err:  # pragma: no cover - vyper is a dev dependency
        raise ArtifactError(
            f"contract {name!r}: no up-to-date artifact in {build_dir()} and the vyper compiler "
            "is not installed; install the dev extras (pip install -e '.[dev]') or ship the "
            "artifacts built by `python -m optirollup.l1.contracts`"
        ) from err
    root = contracts_dir()
    bundle = FilesystemInputBundle([root])
    file_input = bundle.load_file(_source_path(name).relative_to(root))
    try:
        out = vyper.compile_from_file_input(
            file_input,
            input_bundle=bundle,
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
    except Exception as err:  # vyper raises its own exception tree
        raise ArtifactError(f"contract {name!r} does not compile: {err}") from err
    return Artifact(
        name=name,
        abi=list(out["abi"]),
        bytecode=bytes.fromhex(str(out["bytecode"]).removeprefix("0x")),
        runtime=bytes.fromhex(str(out["bytecode_runtime"]).removeprefix("0x")),
        compiler=f"vyper {vyper.__version__}",
        source_hash=wanted_hash,
    )


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(name: str) -> Artifact:
    """Return the artifact of contract ``name``, compiling it if the cache is missing or stale.

    ``name`` is the path below ``contracts/`` without ``.vy`` (``"Vault"``,
    ``"steps/DepositStep"``). Raise :class:`ArtifactError` if it cannot be loaded or built.
    """
    wanted = source_hash(name)
    cached = _read_cached(name, wanted)
    if cached is not None:
        return cached
    with _build_lock():
        cached = _read_cached(name, wanted)  # another process may have built it meanwhile
        if cached is not None:
            return cached
        art = _compile(name, wanted)
        _write_atomic(_artifact_path(name), json.dumps(art.to_json(), indent=1))
        return art


def compile_all(names: Iterable[str] = DEPLOYABLE) -> dict[str, Artifact]:
    """Load (compiling where needed) every named contract; return them by name."""
    return {name: load(name) for name in names}


def main(argv: list[str] | None = None) -> int:
    """Build the artifacts of the named contracts (default: all deployable) and print sizes."""
    names = (argv if argv is not None else sys.argv[1:]) or list(DEPLOYABLE)
    for name, art in compile_all(names).items():
        print(f"{name}: runtime {len(art.runtime)} bytes, init {len(art.bytecode)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
