"""dsba datasets: list and delete the stored datasets, locally or --remote."""

from __future__ import annotations

import click

from dsba.cli_options import Context, DsbaGroup


@click.group(cls=DsbaGroup)
def datasets() -> None:
    """List and delete stored datasets.

    \b
    Example:
      dsba datasets list
    """


@datasets.command("list")
@click.pass_obj
def datasets_list(obj: Context) -> None:
    """List stored datasets, newest first.

    \b
    Example:
      dsba datasets list --json
    """
    rows = obj.service.datasets()
    lines = [
        f"{d['id']}  {d.get('rows', 0):>9,} rows  {d.get('created_at', '')}  {d.get('filename')}"
        for d in rows
    ]
    obj.emit(rows, "\n".join(lines) or "no datasets yet")


@datasets.command("delete")
@click.argument("dataset_id")
@click.pass_obj
def datasets_delete(obj: Context, dataset_id: str) -> None:
    """Delete the dataset DATASET_ID (refused while a job trains on it).

    \b
    Example:
      dsba datasets delete 3f2a9c1b0d4e5f67
    """
    result = obj.service.delete_dataset(dataset_id)
    obj.emit(result, f"deleted dataset {result['deleted']} ({result.get('filename')})")
