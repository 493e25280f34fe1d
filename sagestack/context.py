"""What every command receives: the target, the resolved names, and where to print.

Why an object on the click context rather than module globals: tests run many commands in
one process (CliRunner) against different servers, and each invocation must get its own
target, clients and consoles (rich consoles bound per invocation also pick up the width of
the terminal, or of a test's COLUMNS, at that moment).
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

import click
from rich.console import Console

from sagestack import settings as settings_mod
from sagestack.target import Target


class App:
    """Per-invocation state shared by the commands."""

    def __init__(self, target: Target, overrides: settings_mod.Overrides):
        self.target = target
        self.overrides = overrides
        self.out = _console(stderr=False)
        self.err = _console(stderr=True)
        self._clients: dict[str, Any] = {}

    @property
    def stage(self) -> str:
        return self.overrides.stage or (settings_mod.AWS_STAGE if self.target.aws else settings_mod.LOCAL_STAGE)

    @cached_property
    def settings(self) -> settings_mod.Settings:
        """The names from the deployed stack and the overrides (read once, when a command first needs one)."""
        return settings_mod.resolve(self.target, self.overrides, self.client("cloudformation"))

    def forget_settings(self) -> None:
        """After a deploy: the stack's outputs may have changed."""
        self.__dict__.pop("settings", None)

    def client(self, service: str) -> Any:
        """One boto3 client per service per invocation."""
        if service not in self._clients:
            self._clients[service] = self.target.client(service)
        return self._clients[service]

    @property
    def sagemaker(self) -> Any:
        return self.client("sagemaker")

    @property
    def s3(self) -> Any:
        return self.client("s3")


pass_app = click.make_pass_decorator(App)


def _console(stderr: bool) -> Console:
    """Messages never wrap (commands printed for copy-paste must stay whole); tables get room in logs."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200
    return console
