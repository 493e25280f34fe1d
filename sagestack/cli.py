"""`sagestack`: one command for people, from a laptop's localcloud to a real AWS account.

    sagestack up                       start localcloud in the background (127.0.0.1:4566)
    sagestack deploy                   deploy the stack (infra/) with the CDK CLI
    sagestack pipeline start           run the stack's pipeline, with live progress
    sagestack model list / approve     review and approve registered models
    sagestack endpoint deploy / invoke serve the latest approved model (through the stack) and call it
    sagestack logs job|execution|endpoint  a log from CloudWatch Logs (--follow)
    sagestack monitor / alerts / report    Model Monitor, the alert inbox, an HTML report with plots
    sagestack destroy                  delete the stack (its buckets emptied first, except in prod)
    sagestack down                     stop localcloud

Every command targets localcloud unless `--aws` is given (see sagestack/target.py for why
that is enforced, not just defaulted). This module only wires the commands together and
turns AWS failures into one-line errors; the commands live in *_cmds.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from localcloud.launcher import health
from localcloud.settings import snapshot_path
from sagestack import cloud, progress, render
from sagestack.alerts_cmds import alerts
from sagestack.console_cmds import console
from sagestack.context import App, pass_app
from sagestack.endpoint_cmds import endpoint
from sagestack.errors import SagestackError, explain
from sagestack.logs_cmds import logs
from sagestack.model_cmds import model
from sagestack.monitor_cmds import monitor
from sagestack.pipeline_cmds import pipeline
from sagestack.report_cmds import report
from sagestack.settings import STAGES, Overrides
from sagestack.stack_cmds import deploy, destroy, names
from sagestack.target import DEFAULT_ENDPOINT_URL, Target


class SagestackGroup(click.Group):
    """A click group that shows AWS-side failures as one `error:` line with exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            app = ctx.find_object(App)
            target = app.target if app else Target()
            mapped = explain(error, _describe(target), local=not target.aws, endpoint_url=target.endpoint_url)
            if mapped is None:
                raise
            raise mapped from None


def _describe(target: Target) -> str:
    try:
        return target.description
    except Exception:  # the region may be what is missing
        return "AWS" if target.aws else f"localcloud at {target.endpoint_url}"


@click.group(cls=SagestackGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--aws", is_flag=True,
              help="Use real AWS (standard credentials and region). Without it, only a local cloud is used.")
@click.option("--endpoint-url", envvar="SAGESTACK_ENDPOINT_URL", metavar="URL",
              help=f"localcloud URL, loopback only [env SAGESTACK_ENDPOINT_URL; default {DEFAULT_ENDPOINT_URL}].")
@click.option("--sagemaker-url", envvar="SAGESTACK_SAGEMAKER_URL", metavar="URL",
              help="Backplane mode: SageMaker at this localcloud (started with --backplane), every other service at "
                   "--endpoint-url (LocalStack); loopback only [env SAGESTACK_SAGEMAKER_URL].")
@click.option("--region", envvar="SAGESTACK_REGION",
              help="AWS region [env SAGESTACK_REGION; default us-east-1 locally, the profile's region on AWS].")
@click.option("--profile", help="AWS profile (with --aws).")
@click.option("--stage", type=click.Choice(STAGES), envvar="SAGESTACK_STAGE",
              help="Which deployed stack (SageStack-<stage>) to work in [env SAGESTACK_STAGE; default local, or dev "
                   "with --aws].")
@click.option("--bucket", envvar="SAGESTACK_BUCKET",
              help="Data bucket [env SAGESTACK_BUCKET; default: the stack's].")
@click.option("--model-package-group", envvar="SAGESTACK_MODEL_PACKAGE_GROUP",
              help="Model package group [env SAGESTACK_MODEL_PACKAGE_GROUP; default: the stack's].")
@click.option("--pipeline", "pipeline_name", envvar="SAGESTACK_PIPELINE",
              help="Pipeline name [env SAGESTACK_PIPELINE; default: the stack's].")
@click.option("--endpoint-name", envvar="SAGESTACK_ENDPOINT_NAME",
              help="Endpoint name [env SAGESTACK_ENDPOINT_NAME; default: the stack's].")
@click.version_option(package_name="sagestack", prog_name="sagestack")
@click.pass_context
def cli(ctx: click.Context, aws: bool, endpoint_url: str | None, sagemaker_url: str | None, region: str | None,
        profile: str | None, stage: str | None, bucket: str | None, model_package_group: str | None,
        pipeline_name: str | None, endpoint_name: str | None) -> None:
    """sagestack: an MLOps stack for Amazon SageMaker that also runs on one laptop.

    Commands talk to localcloud (start it with `sagestack up`) unless --aws is given, and find
    what they work with in the deployed stack (`sagestack deploy`; `sagestack names` shows it).
    """
    target = Target.build(aws=aws, endpoint_url=endpoint_url, region=region, profile=profile,
                          sagemaker_url=sagemaker_url)
    overrides = Overrides(stage=stage, bucket=bucket, model_package_group=model_package_group,
                          pipeline_name=pipeline_name, endpoint_name=endpoint_name)
    ctx.obj = App(target, overrides)


cli.add_command(deploy)
cli.add_command(destroy)
cli.add_command(names)
cli.add_command(pipeline)
cli.add_command(model)
cli.add_command(endpoint)
cli.add_command(logs)
cli.add_command(alerts)
cli.add_command(monitor)
cli.add_command(report)
cli.add_command(console)


# ---------------------------------------------------------------------------- localcloud in the background

_DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                         envvar="SAGESTACK_LOCALCLOUD_DIR",
                         help="Folder for the pid file, log and job data [env SAGESTACK_LOCALCLOUD_DIR; "
                              "default <project>/.localcloud].")


def _paths(data_dir: Path | None) -> cloud.CloudPaths:
    return cloud.CloudPaths(data_dir.resolve()) if data_dir else cloud.CloudPaths.for_project()


def _local_only(app: App, command: str) -> None:
    if app.target.aws:
        raise SagestackError(f"`sagestack {command}` manages the local cloud; it does not take --aws")


def _how_to_use(app: App, url: str) -> None:
    app.out.print("point AWS tools at it:")
    app.out.print(f"  export AWS_ENDPOINT_URL={url}")
    app.out.print("  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1")
    if url != DEFAULT_ENDPOINT_URL:
        app.out.print(f"and sagestack itself:\n  export SAGESTACK_ENDPOINT_URL={url}")


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=cloud.DEFAULT_PORT, show_default=True,
              envvar="SAGESTACK_LOCALCLOUD_PORT", help="Port on 127.0.0.1 [env SAGESTACK_LOCALCLOUD_PORT].")
@_DATA_DIR
@click.option("--timeout", type=click.FloatRange(min=1), default=cloud.START_TIMEOUT, show_default=True,
              help="Seconds to wait for it to answer.")
@pass_app
def up(app: App, port: int, data_dir: Path | None, timeout: float) -> None:
    """Start localcloud in the background and wait until it answers."""
    _local_only(app, "up")
    paths = _paths(data_dir)
    running = cloud.find(paths)
    if running:
        app.out.print(f"localcloud is already running at {running.url} (pid {running.pid}, log {paths.log_file})")
        _how_to_use(app, running.url)
        return
    url = cloud.url_for(port)
    if health(url):
        app.out.print(f"a localcloud is already answering at {url} (not started from {paths.root}); using it")
        _how_to_use(app, url)
        return
    snapshot = snapshot_path(paths.data_dir)
    restoring = snapshot.exists()
    with progress.spinner(app.out, f"starting localcloud at {url}:") as update:
        running, took = cloud.launch(paths, port, timeout, lambda elapsed: update(render.seconds_text(elapsed)))
    app.out.print(f"localcloud is running at {url} (pid {running.pid}, ready in {render.seconds_text(took)})")
    kept = "restored from the last run" if restoring else "kept across restarts"
    app.out.print(f"  log: {paths.log_file}\n  state and job data: {paths.data_dir} ({kept})\n"
                  f"  stop it with `sagestack down` (saves the state)")
    _how_to_use(app, url)


@cli.command()
@_DATA_DIR
@click.option("--timeout", type=click.FloatRange(min=1), default=cloud.STOP_TIMEOUT, show_default=True,
              help="Seconds to wait before killing it.")
@pass_app
def down(app: App, data_dir: Path | None, timeout: float) -> None:
    """Stop the localcloud started by `sagestack up` (SIGTERM, then wait until it is gone)."""
    _local_only(app, "down")
    paths = _paths(data_dir)
    running = cloud.find(paths)
    if running is None:
        app.out.print(f"localcloud is not running (no live server recorded in {paths.root})")
        return
    started = time.monotonic()
    with progress.spinner(app.out, f"stopping localcloud (pid {running.pid}):") as update:
        graceful = cloud.stop(paths, running, timeout, lambda elapsed: update(render.seconds_text(elapsed)))
    took = render.seconds_text(time.monotonic() - started)
    if graceful:
        app.out.print(f"localcloud stopped (pid {running.pid}, {took}); its state is saved in {paths.data_dir}")
    else:
        app.out.print(f"localcloud did not stop within {timeout:.0f} s and was killed (pid {running.pid})")


@cli.command()
@_DATA_DIR
@pass_app
@click.pass_context
def status(ctx: click.Context, app: App, data_dir: Path | None) -> None:
    """Is localcloud running? (exit 1 if not)"""
    _local_only(app, "status")
    paths = _paths(data_dir)
    running = cloud.find(paths)
    url = running.url if running else app.target.endpoint_url or DEFAULT_ENDPOINT_URL
    answer = health(url)
    if running and answer:
        app.out.print(f"localcloud is running at {url} (pid {running.pid}, up "
                      f"{render.seconds_text(float(answer.get('uptime_seconds', 0)))}, log {paths.log_file})")
    elif running:
        app.out.print(f"localcloud process {running.pid} is running but does not answer at {url}; "
                      f"see {paths.log_file}")
        ctx.exit(1)
    elif answer:
        app.out.print(f"a localcloud answers at {url} (not started by `sagestack up` from {paths.root})")
    else:
        app.out.print("localcloud is not running (start it with `sagestack up`)")
        ctx.exit(1)


@cli.command()
def demo() -> None:
    """Run the whole lifecycle on a localcloud of its own, then stop it (what `make demo` runs)."""
    from sagestack import demo as lifecycle

    lifecycle.main()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="sagestack")
