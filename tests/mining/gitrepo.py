"""Build git repositories object by object, so a test can craft any history, hostile ones included.

Commits are written as raw objects (not through an index or a work tree), which lets a test
choose undecodable author names and messages, symlinks, submodule entries and exact times.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType

START = 1_500_000_000  # 2017-07-14
DAY = 86_400


class Link(str):
    """A file entry that is a symlink to this target."""


class Gitlink(str):
    """A file entry that is a submodule pinned at this commit id."""


class RepoBuilder:
    def __init__(self, path: Path, bare: bool = False) -> None:
        self.repo = pygit2.init_repository(str(path), bare=bare, initial_head="main")
        self.path = Path(self.repo.path)  # the git directory
        self.files: dict[str, tuple[int, pygit2.Oid]] = {}
        self.head: str | None = None
        self.time = START

    # ------------------------------------------------------------------ objects
    def _entry(self, value: bytes | str) -> tuple[int, pygit2.Oid]:
        if isinstance(value, Gitlink):
            return FileMode.COMMIT, pygit2.Oid(hex=str(value))
        if isinstance(value, Link):
            return FileMode.LINK, self.repo.create_blob(str(value).encode())
        data = value.encode() if isinstance(value, str) else value
        return FileMode.BLOB, self.repo.create_blob(data)

    def _tree(self, files: Mapping[str, tuple[int, pygit2.Oid]]) -> pygit2.Oid:
        here: dict[str, tuple[int, pygit2.Oid]] = {}
        below: dict[str, dict[str, tuple[int, pygit2.Oid]]] = {}
        for path, entry in files.items():
            head, _, rest = path.partition("/")
            if rest:
                below.setdefault(head, {})[rest] = entry
            else:
                here[head] = entry
        builder = self.repo.TreeBuilder()
        for name, (mode, oid) in here.items():
            builder.insert(name, oid, mode)
        for name, sub in below.items():
            builder.insert(name, self._tree(sub), FileMode.TREE)
        return builder.write()

    def commit(self, message: str | bytes, changes: Mapping[str, bytes | str | None] | None = None, *,
               parents: list[str] | None = None, author: bytes = b"Ann Author <ann@example.com>",
               when: int | None = None, files: Mapping[str, tuple[int, pygit2.Oid]] | None = None,
               move_head: bool = True) -> str:
        """Apply `changes` (path -> new content, or None to delete) on top of the current files."""
        base = dict(self.files if files is None else files)
        for path, value in (changes or {}).items():
            if value is None:
                base.pop(path, None)
            else:
                base[path] = self._entry(value)
        self.time = self.time + DAY if when is None else when
        tree = self._tree(base)
        parents = ([self.head] if self.head else []) if parents is None else parents
        body = message.encode() if isinstance(message, str) else message
        raw = b"tree " + str(tree).encode() + b"\n"
        for parent in parents:
            raw += b"parent " + parent.encode() + b"\n"
        stamp = f" {self.time} +0000\n".encode()
        raw += b"author " + author + stamp + b"committer " + author + stamp + b"\n" + body
        oid = str(self.repo.odb.write(ObjectType.COMMIT, raw))
        if move_head:
            self.files = base
            self.head = oid
            self.repo.references.create("refs/heads/main", pygit2.Oid(hex=oid), force=True)
        return oid

    def object_file(self, oid: str | pygit2.Oid) -> Path:
        text = str(oid)
        return self.path / "objects" / text[:2] / text[2:]

    def blob_id(self, path: str) -> pygit2.Oid:
        return self.files[path][1]
