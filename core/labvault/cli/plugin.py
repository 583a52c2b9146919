"""``labvault plugin new``: write a new plugin distribution, ready to test and publish.

The files come from templates kept under ``templates/`` (``common/`` for every kind, one
folder per kind), rendered with :class:`string.Template` (placeholders ``@@{name}``, a
delimiter no Python, TOML, YAML or Markdown of the templates uses). A template named
``X.tmpl`` becomes ``X``; the folder ``package`` becomes the plugin's package and
``tests/test_plugin.py`` its ``tests/test_<name>.py``.
"""

from __future__ import annotations

import datetime
import keyword
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the templates are read by `plugin new` alone
    from importlib.resources.abc import Traversable

#: A plugin's name: what ``PLUGINS`` lists, the entry point's name and the type's name.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")


@dataclass(frozen=True)
class Kind:
    """What a kind's templates need besides the plugin's name."""

    words: str  # "block type", for the README
    description: str
    dependencies: tuple[str, ...] = ()
    #: The longest name the kind's type may have (an item type's name is its items' type).
    max_name: int = 40


KINDS = {
    "auth": Kind(
        "sign-in provider",
        "Sign in to labvault with an OAuth 2.0 server.",
    ),
    "block": Kind(
        "block type",
        "Line and column statistics of CSV files, as a labvault block type.",
        ('"pillow>=10.3",  # plot.png',),
    ),
    "item-type": Kind(
        "item type",
        "A measurement made on an instrument, as a labvault item type.",
        max_name=20,
    ),
    "file-source": Kind(
        "file source",
        "Read raw data from a folder of the server's machine into labvault.",
    ),
    "inventory": Kind(
        "inventory importer",
        "Import starting materials into labvault from a simple CSV export.",
    ),
    "backup": Kind(
        "backup target",
        "Keep labvault's backups in a folder.",
    ),
    "interchange": Kind(
        "interchange format",
        "Export labvault items as JSON Lines, one item a line, and import such files.",
    ),
}


class _Template(string.Template):
    delimiter = "@@"


def api_range(version: str | None = None) -> str:
    """The plugin API range a new plugin declares: this minor version (default: this
    labvault's plugin API) up to the next major."""
    if version is None:
        from labvault.plugin import API_VERSION  # when used: it imports the plugin API

        version = API_VERSION
    major, minor = version.split(".")[:2]
    return f">={major}.{minor},<{int(major) + 1}"


def check_name(name: str) -> str:
    """``name`` if it can name a plugin (its package is ``labvault_<name>``), else a
    ``click.BadParameter`` saying what a name may be."""
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise click.BadParameter(
            f"{name!r} is no plugin name: use 1 to 40 lowercase letters, digits and _, "
            "starting with a letter (e.g. xrd_stats)",
            param_hint="NAME",
        )
    return name


def render(kind: str, name: str, author: str) -> dict[str, str]:
    """The files of a new plugin of ``kind``: each relative path and its text."""
    info = KINDS[kind]
    words = {
        "name": name,
        "kind": kind,
        "kind_words": info.words,
        "package": f"labvault_{name}",
        "distribution": f"labvault-{name.replace('_', '-')}",
        "class_name": "".join(part.capitalize() for part in name.split("_")),
        "description": info.description,
        "author": author,
        "year": str(datetime.date.today().year),
        "api_range": api_range(),
        "dependencies": "".join(f"\n    {line}" for line in info.dependencies),
    }
    from importlib import resources

    templates = resources.files("labvault.cli") / "templates"
    kind_folder = templates / kind
    words["config_example"] = _fill(kind_folder / "config_example.tmpl", words).rstrip("\n")
    words["options_doc"] = _fill(kind_folder / "options.md.tmpl", words).rstrip("\n")
    files: dict[str, str] = {}
    for folder in (templates / "common", kind_folder):
        for path, template in _walk(folder, ""):
            if path in ("config_example.tmpl", "options.md.tmpl"):
                continue
            target = path.removesuffix(".tmpl")
            target = re.sub(r"^package/", f"{words['package']}/", target)
            target = target.replace("tests/test_plugin.py", f"tests/test_{name}.py")
            files[target] = _fill(template, words)
    return files


def _fill(template: Traversable, words: dict[str, str]) -> str:
    return _Template(template.read_text(encoding="utf-8")).substitute(words)


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found = []
    for child in folder.iterdir():
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            found.extend(_walk(child, f"{prefix}{child.name}/"))
        else:
            found.append((f"{prefix}{child.name}", child))
    return found


@click.group("plugin")
def plugin_command() -> None:
    """Start a plugin of your own (`labvault plugins` lists the installed ones)."""


@plugin_command.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(KINDS)), required=True, help="What it provides.")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the folder labvault-NAME is made.",
)
@click.option("--author", default="The authors", show_default=True, help="For the LICENSE.")
def new_command(name: str, kind: str, directory: Path, author: str) -> None:
    """Write a new plugin distribution NAME of one kind into DIRECTORY/labvault-NAME.

    It is complete: pyproject.toml (entry point, plugin API range, a `test` extra), the
    package with a working type of that kind, README, LICENSE (MIT), tests that pass with
    `pytest` after `pip install .[test]`, and a CI workflow that builds, tests and
    publishes to PyPI with trusted publishing.
    """
    check_name(name)
    if len(name) > KINDS[kind].max_name:
        raise click.BadParameter(
            f"{name!r} is too long for --kind {kind}: the type is named after the plugin, "
            f"and its name has at most {KINDS[kind].max_name} characters",
            param_hint="NAME",
        )
    target = directory / f"labvault-{name.replace('_', '-')}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(
            f"{target} exists and is not empty; choose another NAME or --directory"
        )
    files = render(kind, name, author)
    for path, text in sorted(files.items()):
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text, encoding="utf-8")
    click.echo(f"wrote the {KINDS[kind].words} plugin {name!r} to {target} ({len(files)} files)")
    click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest")
