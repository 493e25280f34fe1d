"""Per-environment settings for the CDK app, as typed, frozen dataclasses.

One `StageConfig` per environment keeps every difference between local, dev and prod
in one reviewed place instead of scattered `if stage == ...` checks in constructs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageConfig:
    name: str
    account: str | None
    region: str
    retain_data: bool
    """Keep buckets and keys when the stack is deleted (never lose data outside local)."""
    model_package_group: str = "sagestack-taxi-duration"

    @property
    def prefix(self) -> str:
        return f"sagestack-{self.name}"


STAGES: dict[str, StageConfig] = {
    "local": StageConfig(name="local", account="123456789012", region="us-east-1", retain_data=False),
    "dev": StageConfig(name="dev", account=None, region="us-east-1", retain_data=False),
    "prod": StageConfig(name="prod", account=None, region="us-east-1", retain_data=True),
}


def stage(name: str) -> StageConfig:
    """The config for `name`, or a clear error listing the known stages."""
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}") from None
