import pytest

from themis_rm.schema import Aspect, Language, ScoreRequest


@pytest.mark.parametrize(
    ("text", "expected"),
    [("c++", Language.CPP), ("cpp", Language.CPP), ("C#", Language.CSHARP), ("cs", Language.CSHARP),
     ("js", Language.JAVASCRIPT), ("node", Language.JAVASCRIPT), ("py", Language.PYTHON),
     ("python3", Language.PYTHON), ("golang", Language.GO), ("rb", Language.RUBY), ("C", Language.C),
     ("JavaScript", Language.JAVASCRIPT), ("c-sharp", Language.CSHARP)],
)
def test_language_aliases(text, expected):
    assert Language.parse(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Readability and Maintainability", Aspect.READABILITY_MAINTAINABILITY),
     ("readability", Aspect.READABILITY_MAINTAINABILITY), ("security", Aspect.SECURITY_HARDNESS),
     ("functional correctness", Aspect.FUNCTIONAL_CORRECTNESS), ("memory", Aspect.MEMORY_EFFICIENCY),
     ("Runtime_Efficiency", Aspect.RUNTIME_EFFICIENCY), ("helpfulness", Aspect.HELPFULNESS)],
)
def test_aspect_aliases(text, expected):
    assert Aspect.parse(text) is expected


def test_unknown_values_list_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: C, CSharp, Cpp, Go, Java, JavaScript, Python, Ruby"):
        Language.parse("rust")
    with pytest.raises(ValueError, match="Functional_Correctness"):
        Aspect.parse("vibes")


def test_request_key_ignores_context_unless_asked():
    a = ScoreRequest("sys", "p", "r", Aspect.SECURITY_HARDNESS, Language.C, "aspect")
    b = ScoreRequest("sys", "p", "r", Aspect.RUNTIME_EFFICIENCY, Language.GO, "full")
    assert a.key() == b.key()
    assert a.key(frozenset({"aspect"})) != b.key(frozenset({"aspect"}))
    assert a.key() != ScoreRequest(None, "p", "r").key()


def test_messages_put_system_first_and_response_last():
    request = ScoreRequest("criteria", "question", "answer")
    assert request.messages() == [
        {"role": "system", "content": "criteria"},
        {"role": "user", "content": "question"},
        {"role": "assistant", "content": "answer"},
    ]
