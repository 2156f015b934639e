"""Flask CLI commands: `flask seed-demo`."""
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from seed import seed_demo_catalog


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the catalog has no products.")
@with_appcontext
def seed_demo(if_empty):
    """Create demo categories and products with locally generated images."""
    image_dir = Path(current_app.static_folder) / "products"
    result = seed_demo_catalog(image_dir, if_empty=if_empty)
    if result.skipped:
        click.echo("商品目录不是空的，跳过演示数据。")
    else:
        click.echo(f"已创建 {result.categories} 个分类、{result.products} 件商品。")
    if result.images:
        click.echo(f"已在 {image_dir} 生成 {result.images} 张商品图片。")
