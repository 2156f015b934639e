"""The APScheduler process (stub until the scheduler issue lands)."""
import click
from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="Run the background jobs.")


def start_background_scheduler(app):
    """Start the jobs inside this process (development only)."""
    return None


@jobs_cli.command("run")
def run():
    """Run the scheduler in the foreground (production: its own process)."""
    click.echo("no jobs yet")
