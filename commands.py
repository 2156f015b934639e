"""Flask CLI commands: `flask seed-demo`."""
import click
from flask.cli import with_appcontext


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the catalog has no products.")
@with_appcontext
def seed_demo(if_empty):
    """Create demo categories and products with locally generated images."""
