"""PATHs for testing shell scripts: fake programs put first, or real ones taken away.

A script under test finds its tools on PATH, so a test changes what the machine seems to have
(no Tesseract, no apt-get, an old python3) without touching the machine itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def write_program(path: Path, body: str) -> Path:
    """An executable /bin/sh script at `path` running `body`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def path_with(folder: Path) -> str:
    """This process's PATH with `folder` first, so its programs win."""
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def path_without(folder: Path, names: Iterable[str]) -> str:
    """A one-folder PATH holding links to every program on this PATH except `names`."""
    hidden = set(names)
    folder.mkdir(parents=True, exist_ok=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name in hidden or os.path.lexists(link) or entry.is_dir():
                continue
            if os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return str(folder)
