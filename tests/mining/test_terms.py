from __future__ import annotations

import pytest

from themis_rm.mining.terms import (
    PRIORITY,
    Message,
    TermLabeller,
    get_labeller,
    is_revert,
    is_trivial,
    load_terms,
    parse_message,
    primary_aspect,
    register_labeller,
)
from themis_rm.schema import Aspect


def label(text: str, labeller: TermLabeller | None = None) -> dict[str, list[str]]:
    found = (labeller or TermLabeller()).label(parse_message(text))
    return {aspect.value: terms for aspect, terms in found.items()}


def test_message_is_split_and_trailers_dropped():
    message = parse_message("Fix the loop\nwrapped subject\n\nBody line.\n\nSigned-off-by: A <a@b>\n"
                            "Co-authored-by: C <c@d>\nChange-Id: I123\n")
    assert message == Message("Fix the loop wrapped subject", "Body line.")


@pytest.mark.parametrize("text, expected", [
    ("Fix off-by-one in range check", {"Functional_Correctness": ["fix", "off by one"]}),
    ("perf: SPEED UP the tokenizer", {"Runtime_Efficiency": ["speed*", "perf"]}),
    ("Avoid unnecessary copies of buffers", {"Memory_Efficiency": ["unnecessary cop*"]}),
    ("Use-After-Free in sds", {"Security_Hardness": ["use after free"]}),
    ("Optimisations", {"Runtime_Efficiency": ["optimi*"]}),
    ("Refactored the parser", {"Readability_Maintainability": ["refactor*"]}),
    ("Document the plan", {}),
    ("fixture updates for the suite", {}),  # `fix` is a whole word, not a prefix
    ("Fix typo in the parser", {}),  # the typo veto
    ("Dependency injection for the app", {}),  # only named injections are security
])
def test_terms_match_words_prefixes_and_phrases(text, expected):
    assert label(text) == expected


def test_a_message_can_have_several_aspects_and_the_most_specific_is_primary():
    found = TermLabeller().label(parse_message("Fix memory leak and speed up the parser"))
    assert list(found) == [Aspect.MEMORY_EFFICIENCY, Aspect.RUNTIME_EFFICIENCY, Aspect.FUNCTIONAL_CORRECTNESS]
    assert primary_aspect(found) is Aspect.MEMORY_EFFICIENCY
    assert PRIORITY[0] is Aspect.SECURITY_HARDNESS


def test_body_is_searched_too():
    assert "Security_Hardness" in label("Update parser\n\nThis closes a path traversal hole.")


@pytest.mark.parametrize("text", ["wip", "WIP.", "Update README.md", "update readme", "Initial commit",
                                  "Merge branch 'dev'", "v1.2.3", "Bump version to 2.0", "Create foo.py",
                                  "fixup! Fix the loop", "minor fixes", "...", "typo"])
def test_trivial_messages(text):
    assert is_trivial(parse_message(text))


@pytest.mark.parametrize("text", ["Fix off by one in parse_range", "Update the parser to stream input",
                                  "Remove unused imports", "Speed up version parsing"])
def test_meaningful_messages_are_not_trivial(text):
    assert not is_trivial(parse_message(text))


def test_reverts_are_recognised():
    assert is_revert(parse_message('Revert "Speed up lookup"'))
    assert not is_revert(parse_message("Fix the revert button"))


def test_terms_file_replaces_every_list(tmp_path):
    path = tmp_path / "terms.yaml"
    path.write_text("security: [xss]\nperformance: ['quick*', '!quickstart']\n")
    table = load_terms(path)
    assert set(table) == {Aspect.SECURITY_HARDNESS, Aspect.RUNTIME_EFFICIENCY}
    labeller = TermLabeller(table)
    assert label("Fix bug and make it quicker", labeller) == {"Runtime_Efficiency": ["quick*"]}
    assert label("Quicker quickstart", labeller) == {}
    assert label("Fix XSS", labeller) == {"Security_Hardness": ["xss"]}
    assert labeller.fingerprint() != TermLabeller().fingerprint()


@pytest.mark.parametrize("content, message", [
    ("- a\n", "expected a mapping"),
    ("nonsense: [x]\n", "unknown aspect"),
    ("helpfulness: [x]\n", "not a code aspect"),
    ("security: xss\n", "must be a list"),
])
def test_bad_terms_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_terms(path)


def test_labelling_is_a_registered_step():
    @register_labeller("everything-is-fast")
    class Fast:
        def __init__(self, **options):
            pass

        def label(self, message):
            return {Aspect.RUNTIME_EFFICIENCY: ["(model)"]}

        def fingerprint(self):
            return "fast"

    assert get_labeller("everything-is-fast").label(parse_message("x")) == {Aspect.RUNTIME_EFFICIENCY: ["(model)"]}
    with pytest.raises(ValueError, match="unknown labeller"):
        get_labeller("no-such-labeller")
