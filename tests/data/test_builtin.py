"""The bundled benchmark: its shape, an audit for surface cues, and execution of every pair with tests.

Execution runs each side's code plus the pair's own test snippet with the language's toolchain.
Functional-correctness pairs must split (chosen passes, rejected builds but fails); every other
aspect must keep both sides passing. Languages whose toolchain is absent are skipped, not failed.
All programs of the selected tests are built and run once, in parallel, by the `outcomes` fixture.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from themis_rm.data.builtin_loader import SUBSET, load_builtin, parse_builtin_file, unfence
from themis_rm.schema import CODE_ASPECTS, Aspect, Language

PAIRS = load_builtin()
MIN_PAIRS_PER_CELL = 3
CUE_BOUNDS = (0.3, 0.7)
BUILD_TIMEOUT_S = 120
RUN_TIMEOUT_S = 10
ASPECT_CODES = {
    Aspect.FUNCTIONAL_CORRECTNESS: "fc",
    Aspect.RUNTIME_EFFICIENCY: "rt",
    Aspect.MEMORY_EFFICIENCY: "mem",
    Aspect.READABILITY_MAINTAINABILITY: "rd",
    Aspect.SECURITY_HARDNESS: "sec",
}
# Words that would tell a trivial scorer which side is which, matched against the identifier parts
# (snake_case and camelCase split) and words of comments and strings.
# Library names that happen to contain such a word (SecureRandom) are not flagged: "secure" is not listed.
TELLING_WORDS = re.compile(
    r"(un)?safe(ly|ty)?|insecure|fast(er|est)?|slow(er|est)?|optimi[sz](e|ed|ation)|better|worse|"
    r"fixed|bugs?|buggy|vulnerab(le|ility)|naive|wrong|(in)?efficient|improved",
)


@dataclass(frozen=True)
class Runner:
    """How to turn one response plus its test snippet into a program, build it and run it."""

    tools: tuple[str, ...]  # executables that must be on PATH
    source: str  # file name of the response; "{class}" is the response's public class (Java)
    run: tuple[str, ...]
    build: tuple[str, ...] = ()  # "{sources}" expands to every file written
    tests_file: str | None = None  # None: the tests are appended to the response


RUNNERS = {
    Language.PYTHON: Runner((), "main.py", (sys.executable, "main.py")),
    Language.JAVASCRIPT: Runner(("node",), "main.js", ("node", "main.js")),
    Language.RUBY: Runner(("ruby",), "main.rb", ("ruby", "main.rb")),
    Language.GO: Runner(("go",), "main.go", ("./main",), build=("go", "build", "-o", "main", "main.go")),
    Language.C: Runner(("gcc",), "main.c", ("./main",), build=("gcc", "-std=c11", "-O0", "main.c", "-o", "main", "-lm")),
    Language.CPP: Runner(("g++",), "main.cpp", ("./main",), build=("g++", "-std=c++17", "-O0", "main.cpp", "-o", "main")),
    # The JIT and GC flags cut the JVM start-up that dominates these tiny programs (about a third less CPU).
    Language.JAVA: Runner(("javac", "java"), "{class}.java",
                          ("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", ".", "Main"),
                          build=("javac", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "{sources}"),
                          tests_file="Main.java"),
}


@dataclass(frozen=True)
class Outcome:
    stage: str  # "passed", or the step that failed: "build" or "run"
    log: str = ""


def _code(row: dict, side: str) -> str:
    return unfence(row[side])


def _comment_lines(code: str, language: Language) -> int:
    prefixes = ("#", '"""') if language in (Language.PYTHON, Language.RUBY) else ("//", "/*", "*")
    return sum(line.strip().startswith(prefixes) for line in code.splitlines())


MEASURES = {
    "characters": lambda code, language: len(code),
    "lines": lambda code, language: sum(bool(line.strip()) for line in code.splitlines()),
    "comment_lines": _comment_lines,
}


def cue_share(rows: list[dict], measure: str) -> float:
    """The accuracy of "prefer the side with more <measure>" over `rows`, ties counting half."""
    score = 0.0
    for row in rows:
        language = Language(row["language"])
        chosen = MEASURES[measure](_code(row, "chosen"), language)
        rejected = MEASURES[measure](_code(row, "rejected"), language)
        score += 1.0 if chosen > rejected else 0.5 if chosen == rejected else 0.0
    return score / len(rows)


def _words(code: str) -> set[str]:
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", code)
    return {part.lower() for part in parts}


# --- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_every_aspect_has_enough_pairs_in_language(language: Language) -> None:
    counts = Counter(row["aspect"] for row in PAIRS if row["language"] == language.value)
    short = [f"{aspect.value} has {counts[aspect.value]}" for aspect in CODE_ASPECTS
             if counts[aspect.value] < MIN_PAIRS_PER_CELL]
    assert not short, f"{language.value}: cells below {MIN_PAIRS_PER_CELL} pairs: {'; '.join(short)}"


def test_rows_are_well_formed() -> None:
    # unique ids, the subset, the fences and a one-line rationale are the loader's to enforce
    for row in PAIRS:
        aspect = Aspect(row["aspect"])
        assert re.fullmatch(rf"[a-z]+-{ASPECT_CODES[aspect]}-\d\d", row["id"]), row["id"]
        assert row["rationale"], f"{row['id']}: empty rationale"
        for side in ("chosen", "rejected"):
            assert _code(row, side).strip() not in row["prompt"], f"{row['id']}: the prompt contains {side}"
        assert _code(row, "chosen") != _code(row, "rejected"), row["id"]


GOOD_PAIR = """
  - id: py-fc-99
    aspect: Functional_Correctness
    prompt: Add two numbers.
    chosen: |
      def add(a, b):
          return a + b


    rejected: |
      def add(a, b):
          return a - b
    rationale: The rejected function subtracts.
"""


def test_loader_wraps_code_in_a_fence_and_keeps_the_extra_fields() -> None:
    [row] = parse_builtin_file("python.yaml", "language: Python\npairs:" + GOOD_PAIR)
    assert row["chosen"] == "```python\ndef add(a, b):\n    return a + b\n```"
    assert unfence(row["chosen"]) == "def add(a, b):\n    return a + b"
    assert (row["language"], row["subset"], row["tests"]) == ("Python", SUBSET, None)
    assert row["rationale"] == "The rejected function subtracts."


@pytest.mark.parametrize(("text", "message"), [
    ("language: Python\npairs:" + GOOD_PAIR.replace("    rationale:", "    notes: x\n    rationale:"),
     "python.yaml: pair 'py-fc-99': unknown keys ['notes']"),
    ("language: Python\npairs:" + GOOD_PAIR.replace("    rationale: The rejected function subtracts.\n", ""),
     "python.yaml: pair 'py-fc-99': unknown keys [], missing keys ['rationale']"),
    ("language: Python\npairs:" + GOOD_PAIR + GOOD_PAIR, "python.yaml: pair 'py-fc-99': duplicate id"),
    ("language: Python\npairs:" + GOOD_PAIR.replace("Functional_Correctness", "Speed"),
     "python.yaml: pair 'py-fc-99': unknown aspect 'Speed'"),
    ("language: Python\npairs:" + GOOD_PAIR.replace("Functional_Correctness", "Helpfulness"),
     "python.yaml: pair 'py-fc-99': unknown aspect 'Helpfulness'"),
    ("language: py\npairs:" + GOOD_PAIR, "python.yaml: unknown language 'py'"),
    ("language: Python\npairs:" + GOOD_PAIR.replace("prompt: Add two numbers.", "prompt: ''"),
     "python.yaml: pair 'py-fc-99': 'prompt' must be a non-empty string"),
    ("language: Python\npairs: []\n", "python.yaml: 'pairs' must be a non-empty list"),
])
def test_loader_rejects_malformed_files(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_builtin_file("python.yaml", text)
    assert str(error.value).startswith(message)


def test_correctness_pairs_have_tests_where_a_runtime_exists() -> None:
    missing = [row["id"] for row in PAIRS
               if row["aspect"] == Aspect.FUNCTIONAL_CORRECTNESS.value
               and Language(row["language"]) in RUNNERS and not row["tests"]]
    assert not missing, f"Functional_Correctness pairs without tests: {missing}"


# --- surface cues ------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("aspect", CODE_ASPECTS, ids=str)
def test_chosen_is_not_systematically_bigger(aspect: Aspect, measure: str) -> None:
    """A scorer that prefers the bigger (or more commented) side stays near chance on every aspect."""
    rows = [row for row in PAIRS if row["aspect"] == aspect.value]
    share = cue_share(rows, measure)
    low, high = CUE_BOUNDS
    assert low <= share <= high, f"{aspect.value}: chosen has more {measure} in {share:.0%} of {len(rows)} pairs"


def test_no_telling_words_on_one_side() -> None:
    offenders = []
    for row in PAIRS:
        chosen = {w for w in _words(_code(row, "chosen")) if TELLING_WORDS.fullmatch(w)}
        rejected = {w for w in _words(_code(row, "rejected")) if TELLING_WORDS.fullmatch(w)}
        if chosen ^ rejected:
            offenders.append(f"{row['id']}: chosen-only {sorted(chosen - rejected)}, "
                             f"rejected-only {sorted(rejected - chosen)}")
    assert not offenders, "\n".join(offenders)


# --- execution ---------------------------------------------------------------------------------

TESTED = [pytest.param(row, id=row["id"]) for row in PAIRS if row["tests"]]


def _skip_reason(language: Language) -> str | None:
    runner = RUNNERS.get(language)
    if runner is None:
        return f"no runner for {language.value}"
    absent = [tool for tool in runner.tools if shutil.which(tool) is None]
    return f"{', '.join(absent)} not installed" if absent else None


def _execute(runner: Runner, code: str, tests: str, workdir: Path) -> Outcome:
    public_class = re.search(r"^public\s+(?:final\s+|abstract\s+)*class\s+(\w+)", code, re.MULTILINE)
    source = runner.source.format(**{"class": public_class.group(1) if public_class else "Solution"})
    files = {source: code + "\n" if runner.tests_file else f"{code}\n\n{tests}\n"}
    if runner.tests_file:
        files[runner.tests_file] = tests
    workdir.mkdir(parents=True)
    for name, text in files.items():
        (workdir / name).write_text(text, encoding="utf-8")
    for stage, command, timeout in (("build", runner.build, BUILD_TIMEOUT_S), ("run", runner.run, RUN_TIMEOUT_S)):
        if not command:
            continue
        argv = [arg for part in command for arg in (sorted(files) if part == "{sources}" else [part])]
        try:
            done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(stage, f"{argv[0]} timed out after {timeout}s")
        if done.returncode != 0:
            return Outcome(stage, f"{' '.join(argv)} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return Outcome("passed")


@pytest.fixture(scope="session")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Outcome]:
    """Build and run both sides of every selected, runnable pair at once (compilers are slow)."""
    selected = [item.callspec.params["tested"] for item in request.session.items
                if hasattr(item, "callspec") and "tested" in item.callspec.params]
    jobs = [(row, side) for row in selected if _skip_reason(Language(row["language"])) is None
            for side in ("chosen", "rejected")]
    root = tmp_path_factory.mktemp("builtin-runs")

    def work(job: tuple[dict, str]) -> Outcome:
        row, side = job
        runner = RUNNERS[Language(row["language"])]
        return _execute(runner, _code(row, side), row["tests"], root / row["id"] / side)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
        results = list(pool.map(work, jobs))
    return {(row["id"], side): outcome for (row, side), outcome in zip(jobs, results)}


@pytest.mark.parametrize("tested", TESTED)
def test_pair_behaves_as_labelled_when_run(tested: dict, outcomes: dict[tuple[str, str], Outcome]) -> None:
    reason = _skip_reason(Language(tested["language"]))
    if reason:
        pytest.skip(reason)
    chosen, rejected = outcomes[tested["id"], "chosen"], outcomes[tested["id"], "rejected"]
    assert chosen.stage == "passed", f"chosen side failed at {chosen.stage}: {chosen.log}"
    if tested["aspect"] == Aspect.FUNCTIONAL_CORRECTNESS.value:
        assert rejected.stage == "run", (
            "rejected side should build and then fail its tests, "
            + ("but it passed" if rejected.stage == "passed" else f"but failed at build: {rejected.log}"))
    else:
        assert rejected.stage == "passed", f"rejected side failed at {rejected.stage}: {rejected.log}"
