"""Finding untrusted git repositories and learning what the miner needs about each one:
its name, licence, dominant C-family language and the commits reachable from HEAD.

Nothing is checked out, built or run: only the object database is read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themis_rm.mining import licence
from themis_rm.mining.languages import dominant_c_family

_GENERIC_DIRS = {"repo", "repos", "repository", ".git", "git", "src", "source", "code", "checkout"}


def is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def discover(paths: list[str], max_depth: int = 2) -> tuple[list[Path], Counter[str], list[str]]:
    """Git directories under the given paths (each a repository or a folder of them).

    Symlinked folders found while scanning are skipped (and counted): a hostile tree could point
    anywhere. A path given explicitly is taken as the user wrote it.
    """
    found: list[Path] = []
    counts: Counter[str] = Counter()
    problems: list[str] = []

    def visit(path: Path, depth: int, explicit: bool) -> None:
        if not explicit and path.is_symlink():
            counts["symlink_skipped"] += 1
            return
        if is_git_dir(path):
            found.append(path)
        elif (path / ".git").is_dir() and is_git_dir(path / ".git"):
            found.append(path / ".git")
        elif (path / ".git").is_file():  # a worktree or submodule checkout: its objects live elsewhere
            counts["gitlink_skipped"] += 1
            if explicit:
                problems.append(f"{path}: a .git file (worktree or submodule); pass the main repository instead")
        elif path.is_dir() and depth < max_depth:
            before = len(found)
            try:
                children = sorted(p for p in path.iterdir() if p.is_dir() or p.is_symlink())
            except OSError as err:
                problems.append(f"{path}: {err.strerror}")
                return
            for child in children:
                visit(child, depth + 1, explicit=False)
            if explicit and len(found) == before:
                problems.append(f"{path}: no git repository found (looked {max_depth} levels deep)")
        elif explicit:
            problems.append(f"{path}: not a git repository" if path.exists() else f"{path}: no such directory")

    for raw in paths:
        visit(Path(raw).expanduser(), 0, explicit=True)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    counts["repositories"] = len(unique)
    return unique, counts, problems


def repo_name(git_dir: Path, taken: set[str]) -> str:
    """A readable name: the folder name (its parent's when it is generic such as `repo`)."""
    path = git_dir.parent if git_dir.name == ".git" else git_dir
    name = path.name[:-4] if path.name.endswith(".git") else path.name
    if name.lower() in _GENERIC_DIRS and path.parent.name:
        name = path.parent.name
    if name in taken:
        import hashlib

        name = f"{name}-{hashlib.sha256(str(git_dir).encode()).hexdigest()[:6]}"
    return name


@dataclass
class RepoPlan:
    """What the main process learns about a repository before handing out its commits."""

    path: str
    name: str
    licence: str = licence.NOASSERTION
    dominant: str | None = None
    commits: list[str] = field(default_factory=list)
    shallow: list[str] = field(default_factory=list)
    status: str = "ok"  # ok, empty, unreadable, license_not_allowed
    notes: Counter[str] = field(default_factory=Counter)
    message: str = ""

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "license": self.licence, "status": self.status,
                "commits_walked": len(self.commits), "dominant_c_family": self.dominant,
                "shallow": bool(self.shallow), "notes": dict(self.notes), "message": self.message}


def plan_repo(git_dir: Path, name: str, max_commits: int | None, licences: list[str]) -> RepoPlan:
    import pygit2

    plan = RepoPlan(path=str(git_dir), name=name)
    try:
        repo = pygit2.Repository(str(git_dir))
    except (pygit2.GitError, OSError, ValueError) as err:
        plan.status, plan.message = "unreadable", str(err)
        return plan
    try:
        if repo.head_is_unborn:
            plan.status = "empty"
            return plan
        head = repo.head.peel(pygit2.Commit)
    except (pygit2.GitError, KeyError, ValueError) as err:
        plan.status, plan.message = "unreadable", f"HEAD: {err}"
        return plan
    plan.licence, paths = _scan_tree(repo, head.tree, plan.notes)
    if not licence.allowed(plan.licence, licences):
        plan.status = "license_not_allowed"
        return plan
    dominant = dominant_c_family(paths)
    plan.dominant = dominant.value if dominant else None
    shallow_file = git_dir / "shallow"
    if shallow_file.is_file():
        plan.shallow = shallow_file.read_text(encoding="ascii", errors="replace").split()
    plan.commits = _walk(repo, head.id, max_commits, plan.notes)
    return plan


def _scan_tree(repo: Any, tree: Any, notes: Counter[str], limit: int = 100_000) -> tuple[str, list[str]]:
    """The licence (from a top-level licence file) and up to `limit` file paths of the newest tree."""
    import pygit2

    found: set[str] = set()
    for entry in tree:
        if entry.type_str == "blob" and licence.is_licence_file(entry.name):
            try:
                if repo.odb.read_header(entry.id)[1] <= licence.MAX_LICENCE_BYTES:
                    found.add(licence.detect_licence(repo[entry.id].data.decode("utf-8", errors="replace")))
            except (pygit2.GitError, KeyError) as err:
                notes[f"licence_unreadable_{type(err).__name__}"] += 1
    found.discard(licence.NOASSERTION)
    # several licence files: all of them apply, as far as an allowlist is concerned
    spdx = " AND ".join(sorted(found)) if found else licence.NOASSERTION
    paths: list[str] = []
    stack = [(tree, "")]
    while stack and len(paths) < limit:
        current, prefix = stack.pop()
        for entry in current:
            if entry.type_str == "tree":
                try:
                    stack.append((repo[entry.id], f"{prefix}{entry.name}/"))
                except (pygit2.GitError, KeyError):
                    notes["tree_unreadable"] += 1
            elif entry.type_str == "blob":
                paths.append(prefix + entry.name)
    return spdx, paths


def _walk(repo: Any, head: Any, max_commits: int | None, notes: Counter[str]) -> list[str]:
    """Commit ids reachable from HEAD, oldest first (so shards stay stable as history grows).

    libgit2's walk gives up on the first missing object; then a plain graph search takes over
    that steps around missing commits (each counted) and orders what it reached by time.
    """
    import pygit2

    ids: list[str] = []
    try:
        for commit in repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL):
            ids.append(str(commit.id))
            if max_commits is not None and len(ids) >= max_commits:
                notes["walk_truncated"] += 1
                break
    except (pygit2.GitError, KeyError) as err:
        notes["walk_error"] += 1
        notes[f"walk_error_{type(err).__name__}"] += 1
        return _search(repo, head, max_commits, notes)
    ids.reverse()
    return ids


def _search(repo: Any, head: Any, max_commits: int | None, notes: Counter[str]) -> list[str]:
    import pygit2

    seen: set[str] = set()
    found: list[tuple[int, str]] = []
    stack = [head]
    while stack:
        oid = stack.pop()
        key = str(oid)
        if key in seen:
            continue
        seen.add(key)
        try:
            commit = repo[oid]
        except (KeyError, ValueError, pygit2.GitError):
            notes["missing_commit"] += 1
            continue
        found.append((commit.commit_time, key))
        stack.extend(commit.parent_ids)
    found.sort()
    if max_commits is not None and len(found) > max_commits:
        notes["walk_truncated"] += 1
        found = found[-max_commits:]
    return [key for _, key in found]
