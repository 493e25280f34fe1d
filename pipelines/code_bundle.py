"""The job code a pipeline definition points at, as content-addressed S3 objects held in memory.

Why content-hashed keys: a definition that says `s3://b/p/code/<sha>/preprocess.py` names
exactly one version of the script, so re-deploying unchanged code changes nothing (same
keys, same bytes, same definition JSON), a changed script gets a new key (old executions
keep reading the code they started with).
Why in memory: the definition builder must stay hermetic (no upload while building); the
CDK app (infra/pipeline.py) turns the bundle's objects into content-hashed CDK assets.

Tarballs are made deterministic (sorted members, mtime 0, uid/gid 0, no user names,
gzip header mtime 0) so that the same sources always give the same bytes and keys.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Roles: what each object is for in the definition.
PREPROCESS = "preprocess"
TRAIN = "train"
EVALUATE = "evaluate"
BASELINE = "baseline"
INFERENCE = "inference"

# role -> (object file name, source files relative to the repository root, tarred?)
_LAYOUT: dict[str, tuple[str, tuple[str, ...], bool]] = {
    PREPROCESS: ("preprocess.py", ("training/preprocess.py",), False),
    TRAIN: ("sourcedir.tar.gz", ("training/train.py",), True),
    EVALUATE: ("evaluate.py", ("training/evaluate.py",), False),
    BASELINE: ("baseline.py", ("training/baseline.py",), False),
    INFERENCE: ("sourcedir.tar.gz", ("inference/inference.py",), True),
}
ENTRY_POINTS = {TRAIN: "train.py", INFERENCE: "inference.py"}
HASH_CHARS = 16


def deterministic_tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A gzipped tar of `{member name: bytes}` whose bytes depend on the names and contents only."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def content_key(code_prefix: str, file_name: str, data: bytes) -> str:
    """`<code_prefix>/<sha256(data)[:16]>/<file_name>`."""
    return f"{code_prefix}/{hashlib.sha256(data).hexdigest()[:HASH_CHARS]}/{file_name}"


class CodeBundle(Mapping[str, bytes]):
    """`{s3 key: bytes}` for one bucket, plus which key plays which role in the definition."""

    def __init__(self, bucket: str, objects: Mapping[str, bytes], roles: Mapping[str, str]):
        missing = sorted(set(roles.values()) - set(objects))
        if missing:
            raise ValueError(f"code bundle roles point at keys it does not hold: {missing}")
        self.bucket = bucket
        self._objects = dict(sorted(objects.items()))
        self.roles = dict(sorted(roles.items()))

    def __getitem__(self, key: str) -> bytes:
        return self._objects[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def key(self, role: str) -> str:
        try:
            return self.roles[role]
        except KeyError:
            raise KeyError(f"code bundle has no {role!r} object (it has {sorted(self.roles)})") from None

    def uri(self, role: str) -> str:
        """The s3:// URI of the object playing `role`."""
        return f"s3://{self.bucket}/{self.key(role)}"

    def __repr__(self) -> str:
        return f"CodeBundle(bucket={self.bucket!r}, roles={self.roles!r})"


def build_code_bundle(bucket: str, code_prefix: str, source_root: Path = REPO_ROOT) -> CodeBundle:
    """Read the job scripts under `source_root` and lay them out as content-hashed objects."""
    if not bucket or not code_prefix or code_prefix != code_prefix.strip("/"):
        raise ValueError(
            f"bucket and code_prefix are required, the prefix without edge slashes: {bucket!r}, {code_prefix!r}"
        )
    objects: dict[str, bytes] = {}
    roles: dict[str, str] = {}
    for role, (file_name, sources, tarred) in _LAYOUT.items():
        contents = {}
        for relative in sources:
            path = source_root / relative
            if not path.is_file():
                raise FileNotFoundError(f"job code for {role!r} is missing: {path}")
            contents[Path(relative).name] = path.read_bytes()
        data = deterministic_tar_gz(contents) if tarred else next(iter(contents.values()))
        key = content_key(code_prefix, file_name, data)
        objects[key] = data
        roles[role] = key
    return CodeBundle(bucket, objects, roles)
