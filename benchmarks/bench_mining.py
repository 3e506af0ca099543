"""Mining throughput: commits/s through selection and extraction, against a plain PyDriller loop.

    python benchmarks/bench_mining.py                        # a generated 12,000-commit repository
    python benchmarks/bench_mining.py --commits 20000 --seed 3
    python benchmarks/bench_mining.py --repo /path/to/any/repo   # a local repository instead

Every side walks the same history oldest first and makes the same decisions with the same
functions (message parsing, trivial and revert filters, term labelling, one modified file,
language by extension or header content, size and binary guards, the diff-size cap, the
tree-sitter window, whitespace/comment and depth checks, prompt, MinHash). Ours is
`commits.extract_shard` (pygit2: in-process object reads, the cheap message checks before
any diff, incremental parsing of successive versions of a file). The baseline is the loop
a user would write with PyDriller (GitPython, which asks a `git` subprocess for each
commit's diff), run twice: with the checks in the order the selection rules are stated
(one modified file first, then the message: the usual way to write it, and the headline
ratio), and with the message checks first (as ours), which isolates the git access. All
run in this process, single-threaded; ours runs before, between and after the baselines
and the three times are averaged, so that a change in machine load weighs on both sides.
The script prints commits/s, the ratios, and whether every side selected the same commits
with the same pairs; it exits 1 when the headline ratio is under `--min-ratio` (10) or a
selection differs. (Window contents can differ in rare commits where difflib, which the
baseline uses for hunks, aligns lines differently from git; the count is printed.)

The generated repository is deterministic for a seed: six modules in each of five languages,
documentation files, commits that touch one to three functions with messages drawn from
labelled, unlabelled and trivial pools, and a merge every 40 commits. It is packed with
`git repack` when git is installed, as real repositories are.
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType

from themis_rm.mining import commits, dedup, repos, terms
from themis_rm.mining.config import EXTRACTION_FIELDS, MineConfig
from themis_rm.mining.languages import header_language, is_header, language_of_path
from themis_rm.mining.prompt import offline_prompt
from themis_rm.mining.windows import Dropped, WindowOptions, cut, diff_hunks, split_lines
from themis_rm.schema import Language

# ---------------------------------------------------------------- the generated repository

TEMPLATES = {
    "py": ("pkg/mod{k}.py", "def fn_{i}(values, limit):\n    total = 0\n    for value in values:\n"
           "        if value > {a}:\n            total += value * {b}\n    return min(total, limit + {c})\n\n\n"),
    "js": ("web/lib{k}.js", "function fn_{i}(values, limit) {{\n  let total = 0;\n  for (const value of values) {{\n"
           "    if (value > {a}) {{\n      total += value * {b};\n    }}\n  }}\n  return Math.min(total, limit + {c});\n}}\n\n"),
    "c": ("src/core{k}.c", "int fn_{i}(const int *values, int n, int limit) {{\n    int total = 0;\n"
          "    for (int j = 0; j < n; j++) {{\n        if (values[j] > {a}) {{\n            total += values[j] * {b};\n"
          "        }}\n    }}\n    return total < limit + {c} ? total : limit + {c};\n}}\n\n"),
    "go": ("svc/svc{k}.go", "func fn_{i}(values []int, limit int) int {{\n\ttotal := 0\n\tfor _, value := range values {{\n"
           "\t\tif value > {a} {{\n\t\t\ttotal += value * {b}\n\t\t}}\n\t}}\n\tif total > limit+{c} {{\n"
           "\t\treturn limit + {c}\n\t}}\n\treturn total\n}}\n\n"),
    "java": ("java/Svc{k}.java", "    static int fn_{i}(int[] values, int limit) {{\n        int total = 0;\n"
             "        for (int value : values) {{\n            if (value > {a}) {{\n                total += value * {b};\n"
             "            }}\n        }}\n        return Math.min(total, limit + {c});\n    }}\n\n"),
}
HEADERS = {"py": "import math\n\n\n", "js": "'use strict';\n\n", "c": "#include <stdio.h>\n\n", "go": "package svc\n\n",
           "java": "public class Svc{k} {{\n"}
FOOTERS = {"java": "}\n"}
LABELLED = ["Fix off by one in fn_{i}", "Speed up fn_{i} by skipping repeated work", "Reduce memory allocations in fn_{i}",
            "Refactor fn_{i} for readability", "Fix buffer overflow in fn_{i}", "Fix crash when values is empty in fn_{i}",
            "Optimize the loop in fn_{i}", "Fix wrong limit handling in fn_{i}\n\nThe limit was applied before the sum."]
UNLABELLED = ["Add an option to fn_{i}", "Support the new input format in fn_{i}", "Change the default limit of fn_{i}",
              "Adjust thresholds in fn_{i} for the new release", "Tweak constants in fn_{i} after review",
              "Use the configured weight in fn_{i}"]
TRIVIAL = ["wip", "Update README.md", "minor changes", "typo"]
MODULES, FUNCTIONS = 6, 14


class Generator:
    def __init__(self, path: Path, seed: int) -> None:
        self.repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        self.rng = random.Random(seed)
        self.params = {(ext, k, i): [self.rng.randint(1, 99) for _ in range(3)]
                       for ext in TEMPLATES for k in range(MODULES) for i in range(FUNCTIONS)}
        self.dirs: dict[str, dict[str, pygit2.Oid]] = {}
        self.time = 1_400_000_000

    def render(self, ext: str, k: int) -> bytes:
        template = TEMPLATES[ext][1]
        body = "".join(template.format(i=i, a=a, b=b, c=c)
                       for i, (a, b, c) in ((i, self.params[(ext, k, i)]) for i in range(FUNCTIONS)))
        return (HEADERS[ext].format(k=k) + body + FOOTERS.get(ext, "")).encode()

    def put(self, path: str, data: bytes) -> None:
        folder, name = path.split("/")
        self.dirs.setdefault(folder, {})[name] = self.repo.create_blob(data)

    def tree(self) -> pygit2.Oid:
        root = self.repo.TreeBuilder()
        for folder, files in sorted(self.dirs.items()):
            sub = self.repo.TreeBuilder()
            for name, oid in sorted(files.items()):
                sub.insert(name, oid, FileMode.BLOB)
            root.insert(folder, sub.write(), FileMode.TREE)
        return root.write()

    def commit(self, message: str, parents: list[str]) -> str:
        self.time += self.rng.randint(600, 20_000)
        stamp = f"Dev <dev@example.com> {self.time} +0000\n".encode()
        raw = b"tree " + str(self.tree()).encode() + b"\n"
        raw += b"".join(b"parent " + p.encode() + b"\n" for p in parents)
        raw += b"author " + stamp + b"committer " + stamp + b"\n" + message.encode() + b"\n"
        return str(self.repo.odb.write(ObjectType.COMMIT, raw))

    def change(self) -> str:
        """Mutate one to three functions (or a doc file) and return the message."""
        roll = self.rng.random()
        if roll < 0.05:
            self.put(f"docs/page{self.rng.randrange(4)}.md", f"Notes {self.rng.random()}\n".encode())
            return self.rng.choice(["Fix typo in the docs", "Document the limits", "Update README.md"])
        touched = 1 if self.rng.random() < 0.75 else self.rng.randint(2, 3)
        exts = self.rng.sample(list(TEMPLATES), touched)
        names = []
        for ext in exts:
            k, i = self.rng.randrange(MODULES), self.rng.randrange(FUNCTIONS)
            self.params[(ext, k, i)][self.rng.randrange(3)] = self.rng.randint(1, 99)
            self.put(TEMPLATES[ext][0].format(k=k), self.render(ext, k))
            names.append(i)
        pool = LABELLED if roll < 0.40 else UNLABELLED if roll < 0.90 else TRIVIAL
        return self.rng.choice(pool).format(i=names[0])

    def build(self, count: int) -> None:
        for ext in TEMPLATES:
            for k in range(MODULES):
                self.put(TEMPLATES[ext][0].format(k=k), self.render(ext, k))
        self.put("docs/README.md", b"# generated\n")
        head = self.commit("Initial commit", [])
        made = 1
        while made < count:
            if made % 40 == 39:  # a side commit and its merge
                side = self.commit(self.change(), [head])
                head = self.commit("Merge branch 'topic'", [head, side])
                made += 2
            else:
                head = self.commit(self.change(), [head])
                made += 1
        self.repo.references.create("refs/heads/main", pygit2.Oid(hex=head), force=True)


def generate(path: Path, count: int, seed: int) -> Path:
    Generator(path, seed).build(count)
    if shutil.which("git"):
        subprocess.run(["git", "--git-dir", str(path), "repack", "-adq"], check=True)
        subprocess.run(["git", "--git-dir", str(path), "prune-packed"], check=True)
    return path


# ---------------------------------------------------------------- the two miners

def run_themis(git_dir: Path, config: MineConfig) -> tuple[dict[str, tuple], int, float]:
    started = time.perf_counter()
    plan = repos.plan_repo(git_dir, "bench", None, [])
    task = commits.ShardTask(plan.path, plan.name, plan.dominant, tuple(plan.shallow), tuple(plan.commits),
                             {name: getattr(config, name) for name in EXTRACTION_FIELDS}, None, None, "bench")
    result = commits.extract_shard(task)
    seconds = time.perf_counter() - started
    selected = {c["commit"]: (c["language"], c["rejected"], c["chosen"], c["prompt"], c["signature"])
                for c in result.candidates}
    return selected, len(plan.commits), seconds


def run_pydriller(path: Path, config: MineConfig, dominant: Language | None,
                  message_first: bool) -> tuple[dict[str, tuple], int, float]:
    """The loop a user would write: PyDriller for git, our functions for every decision.

    With `message_first` False the checks run in the order the selection rules are stated
    (merge, one modified file in a known language, then the message), which is how such a
    loop is usually written; with True the cheap message checks come first, as ours do, so
    that only the git access differs. Both select the same commits."""
    from pydriller import Repository

    started = time.perf_counter()
    labeller = terms.TermLabeller()
    options = WindowOptions(config.tree_sitter, config.context_lines, config.max_side_chars, config.max_side_tokens)
    wanted = {Language.parse(name) for name in config.languages}
    selected: dict[str, tuple] = {}
    walked = 0

    def message_ok(commit) -> terms.Message | None:
        message = terms.parse_message(commit.msg)
        if terms.is_trivial(message) or not config.min_message_chars <= len(message.text) <= config.max_message_chars:
            return None
        if terms.is_revert(message) or not labeller.label(message):
            return None
        return message

    def one_known_file(commit):
        files = commit.modified_files
        if len(files) != 1 or files[0].change_type.name != "MODIFY":
            return None
        path = files[0].new_path
        return files[0] if language_of_path(path) is not None or is_header(path) else None

    for commit in Repository(str(path)).traverse_commits():
        walked += 1
        if commit.merge or not commit.parents:
            continue
        if message_first:
            message = message_ok(commit)
            modified = one_known_file(commit) if message is not None else None
        else:
            modified = one_known_file(commit)
            message = message_ok(commit) if modified is not None else None
        if message is None or modified is None:
            continue
        language = language_of_path(modified.new_path)
        old, new = modified.content_before, modified.content
        if old is None or new is None or max(len(old), len(new)) > config.max_file_bytes:
            continue
        if b"\x00" in old[:8000] or b"\x00" in new[:8000]:
            continue
        try:
            before, after = old.decode("utf-8"), new.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if language is None:
            language = header_language(after, dominant)
        if language not in wanted or modified.added_lines + modified.deleted_lines > config.max_diff_lines:
            continue
        hunks = diff_hunks(before, after)
        try:
            window = cut(before, after, hunks, language, options)
        except Dropped:
            continue
        if window.change != "code" or min(window.before_depth, window.after_depth) < config.min_tree_depth:
            continue
        prompt = offline_prompt(message.subject, message.body, modified.new_path, language, window.symbol,
                                window.kind, window.before, window.after)
        if prompt is None:
            continue
        change = dedup.change_text(split_lines(before), split_lines(after), hunks, window.symbol)
        signature = dedup.signature(change, config.shingle_size, config.num_perm)
        selected[commit.hash] = (language.value, window.before, window.after, prompt, signature)
    return selected, walked, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="a local repository: a clone, or a bare repository (default: generate)")
    parser.add_argument("--commits", type=int, default=12_000, help="commits in the generated repository")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-ratio", type=float, default=10.0)
    args = parser.parse_args()
    config = MineConfig()
    scratch = Path(tempfile.mkdtemp(prefix="bench-mining-"))
    try:
        if args.repo is None:
            started = time.perf_counter()
            path = generate(scratch / "generated.git", args.commits, args.seed)
            print(f"generated {args.commits} commits in {time.perf_counter() - started:.1f}s at {path}")
        else:
            path = args.repo
        git_dir = Path(pygit2.Repository(str(path)).path)
        dedup.signature("warm up the imports both sides use", config.shingle_size, config.num_perm)
        plan = repos.plan_repo(git_dir, "bench", None, [])
        dominant = Language(plan.dominant) if plan.dominant else None
        # ours before, between and after the baselines, averaged, so that a change in machine
        # load during the (long) baseline runs weighs on both sides alike
        ours, walked, first_s = run_themis(git_dir, config)
        plain, walked_plain, plain_s = run_pydriller(path, config, dominant, message_first=False)
        again, _, second_s = run_themis(git_dir, config)
        tuned, walked_tuned, tuned_s = run_pydriller(path, config, dominant, message_first=True)
        third, _, third_s = run_themis(git_dir, config)
        assert again == ours == third, "runs of the miner disagree"
        ours_s = (first_s + second_s + third_s) / 3
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ours_rate = walked / ours_s
    print(f"python {platform.python_version()}, pygit2 {pygit2.__version__}, {platform.machine()}")
    print(f"{'':<44}{'commits':>9}{'selected':>10}{'seconds':>10}{'commits/s':>11}")
    print(f"{'themis (pygit2, one process)':<44}{walked:>9}{len(ours):>10}{ours_s:>10.2f}{ours_rate:>11.0f}"
          f"   (runs: {first_s:.2f}s, {second_s:.2f}s, {third_s:.2f}s)")
    ok = True
    for name, theirs, count, seconds in (("PyDriller loop, rules in stated order", plain, walked_plain, plain_s),
                                         ("PyDriller loop, message checks first", tuned, walked_tuned, tuned_s)):
        print(f"{name:<44}{count:>9}{len(theirs):>10}{seconds:>10.2f}{count / seconds:>11.0f}"
              f"   ratio {ours_rate / (count / seconds):.1f}x")
        both = set(ours) & set(theirs)
        same = sum(ours[c] == theirs[c] for c in both)
        print(f"{'':<44}same commits selected: {set(ours) == set(theirs)} ({len(set(ours) - set(theirs))} only ours,"
              f" {len(set(theirs) - set(ours))} only PyDriller); identical pairs (windows, prompt, MinHash): "
              f"{same}/{len(both)}")
        ok = ok and set(ours) == set(theirs)
    ratio = ours_rate / (walked_plain / plain_s)
    print(f"ratio against the stated-order loop: {ratio:.1f}x (target >= {args.min_ratio:g}x)")
    print("by language (ours):", dict(Counter(v[0] for v in ours.values()).most_common()))
    return 0 if ok and ratio >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
