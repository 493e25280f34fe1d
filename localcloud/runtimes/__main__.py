"""`python -m localcloud.runtimes`: list, build and re-lock the framework image runtimes.

    python -m localcloud.runtimes list
    python -m localcloud.runtimes build sagemaker-scikit-learn:1.9-0 [...]   (or --all)
    python -m localcloud.runtimes lock sagemaker-scikit-learn:1.9-0 [...]    (maintainers, needs PyPI)

`build` is what `make test` and `make demo` run first, so that tests and the demo never wait
for (or need the network for) a first build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from localcloud.runtimes.specs import MODELSERVER_REQUIREMENTS, ImageSpec, all_specs, spec_for
from localcloud.runtimes.store import HEADLINE, BuildError, RuntimeStore, uv_binary


def _chosen(names: list[str], every: bool) -> list[ImageSpec]:
    if every:
        return [spec for versions in all_specs().values() for spec in versions.values()]
    if not names:
        raise SystemExit("name at least one runtime (repository:version), or --all; see `list`")
    try:
        return [spec_for(name) for name in names]
    except KeyError as e:
        raise SystemExit(str(e.args[0])) from None


def _list(store: RuntimeStore) -> int:
    print(f"runtimes folder: {store.root}")
    for spec in _chosen([], True):
        pins = spec.pins()
        versions = ", ".join(f"{name} {pins[name]}" for name in HEADLINE if name in pins)
        built = store.ready(spec)
        state = f"built: {built.python}" if built else "not built yet"
        print(f"{spec.name:<36} Python {spec.python:<5} {versions}\n{'':<36} {state}")
    return 0


def _build(store: RuntimeStore, specs: list[ImageSpec]) -> int:
    failed = 0
    for spec in specs:
        started = time.monotonic()
        try:
            built = store.ensure(spec, progress=lambda message: print(message, flush=True))
        except BuildError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{spec.name}: ready in {time.monotonic() - started:.1f} s ({built.summary()})")
    return 1 if failed else 0


def _lock(specs: list[ImageSpec]) -> int:
    for spec in specs:
        argv = [uv_binary(), "pip", "compile", "--quiet", "--universal", "--python-version", spec.python,
                "--custom-compile-command", f"python -m localcloud.runtimes lock {spec.name}",
                "requirements.in", os.path.relpath(MODELSERVER_REQUIREMENTS, spec.folder),
                "-o", spec.lock.name]
        if spec.overrides is not None:
            argv += ["--override", spec.overrides.name]
        done = subprocess.run(argv, cwd=spec.folder, check=False)
        if done.returncode != 0:
            return done.returncode
        print(f"{spec.name}: {spec.lock}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.runtimes", description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="runtimes folder (default: LOCALCLOUD_RUNTIMES_DIR or ~/.cache/localcloud/"
                                       "runtimes)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="supported images, their versions and whether they are built")
    for name, text in (("build", "build runtimes now (each is built once, then reused)"),
                       ("lock", "re-resolve runtime.lock from requirements.in (needs PyPI)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("names", nargs="*", metavar="repository:version")
        sub.add_argument("--all", action="store_true", help="every supported image")
    args = parser.parse_args(argv)
    store = RuntimeStore(None if args.root is None else Path(args.root))
    if args.command == "list":
        return _list(store)
    specs = _chosen(args.names, args.all)
    return _build(store, specs) if args.command == "build" else _lock(specs)


if __name__ == "__main__":
    sys.exit(main())
