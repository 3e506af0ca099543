"""The judge prompts, in our own words, per protocol, per aspect and per criteria prompt mode.

A request's prompt mode decides what the judge is told, so that a judge is compared with
a scalar RM on the same footing:

| mode     | criteria section                         | what the judge is asked to weigh |
|----------|------------------------------------------|----------------------------------|
| `none`   | a short general statement (ours)         | overall quality                  |
| `full`   | the request's criteria text (all five)   | all the criteria together        |
| `aspect` | the request's criteria text (one aspect) | that aspect (`ASPECT_FOCUS`)     |

The aspect is never named in `none` or `full` mode: a scalar RM is not told it either.
`TemplateSet.digest()` enters the scorer fingerprint, so changing a word re-scores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from themis_rm.schema import Aspect, Language, Message, PairRequest, Prompt, ScoreRequest, prompt_messages

GENERAL_CRITERIA = (
    "Judge the response as a whole: does it do what the user asked, and is the code correct, efficient, "
    "readable and safe?"
)

ASPECT_FOCUS: dict[Aspect, str] = {
    Aspect.FUNCTIONAL_CORRECTNESS: "functional correctness: does the code do exactly what was asked, for every valid input?",
    Aspect.RUNTIME_EFFICIENCY: "runtime efficiency: does the code avoid needless work and use an algorithm of low time complexity?",
    Aspect.MEMORY_EFFICIENCY: "memory efficiency: does the code keep peak memory low and avoid needless copies?",
    Aspect.READABILITY_MAINTAINABILITY: "readability and maintainability: is the code easy to read, follow and change?",
    Aspect.SECURITY_HARDNESS: "security: does the code resist malicious input and avoid unsafe operations?",
    Aspect.HELPFULNESS: "helpfulness: does the response give the user what they need?",
    Aspect.HARMLESSNESS: "harmlessness: does the response avoid causing or enabling harm?",
}


@dataclass(frozen=True)
class TemplateSet:
    """One protocol's words. `{criteria}`, `{focus}`, `{conversation}` and the response slots are filled per request."""

    system: str
    user: str
    focus_all: str
    focus_aspect: str  # holds `{aspect}`, filled from ASPECT_FOCUS

    def digest(self) -> str:
        blob = json.dumps({"set": asdict(self), "focus": {a.value: t for a, t in ASPECT_FOCUS.items()},
                           "general": GENERAL_CRITERIA}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def criteria_section(system: str | None) -> str:
    if system is None:
        return GENERAL_CRITERIA
    return "Judge against these criteria:\n" + system.strip()


def focus_line(templates: TemplateSet, mode: str | None, aspect: Aspect | None) -> str:
    if mode == "aspect" and aspect is not None:
        return templates.focus_aspect.format(aspect=ASPECT_FOCUS[aspect])
    return templates.focus_all


def conversation(prompt: Prompt) -> str:
    """The user's request; a multi-turn chat is written out turn by turn."""
    turns = prompt_messages(prompt)
    if len(turns) == 1 and turns[0]["role"] == "user":
        return turns[0]["content"].strip()
    return "\n\n".join(f"[{m['role']}]\n{m['content'].strip()}" for m in turns)


def language_note(language: Language | None) -> str:
    return f" (language: {language.value})" if language is not None else ""


def render(templates: TemplateSet, request: ScoreRequest | PairRequest, **responses: str) -> list[Message]:
    """The judge's chat for one request; `responses` fills the response slots (`response`, or `a` and `b`)."""
    user = templates.user.format(
        criteria=criteria_section(request.system),
        focus=focus_line(templates, request.mode, request.aspect),
        conversation=conversation(request.prompt),
        language=language_note(request.language),
        **{k: v.strip("\n") for k, v in responses.items()},
    )
    return [{"role": "system", "content": templates.system}, {"role": "user", "content": user}]


RATING = TemplateSet(
    system=(
        "You are an impartial, expert reviewer of code written by AI assistants. You read a programming "
        "request and one response to it, weigh the response's strengths and flaws, and then give it a score."
    ),
    user=(
        "{criteria}\n\n{focus}\n\n"
        "<request>\n{conversation}\n</request>\n\n"
        "<response{language}>\n{response}\n</response>\n\n"
        "First explain in a few sentences what is good and what is wrong in the response. Then, on the last "
        "line, write the score as `Score: N`, where N is a whole number from 1 (very poor) to 10 (excellent)."
    ),
    focus_all="Weigh every criterion above when you score.",
    focus_aspect="Score only the response's {aspect}",
)

YES_NO = TemplateSet(
    system=(
        "You are a strict reviewer of code written by AI assistants. You answer each question about a "
        "response with a single word: Yes or No."
    ),
    user=(
        "{criteria}\n\n"
        "<request>\n{conversation}\n</request>\n\n"
        "<response{language}>\n{response}\n</response>\n\n"
        "{focus}\nAnswer with one word, Yes or No."
    ),
    focus_all="Is this a good response to the request, by the criteria above?",
    focus_aspect="Is this a good response when judged on {aspect}",
)

PAIRWISE = TemplateSet(
    system=(
        "You are an impartial, expert reviewer who compares two responses written by AI assistants to the "
        "same programming request. Do not let the order in which the responses appear, their length or "
        "their style sway you; judge only what they do."
    ),
    user=(
        "{criteria}\n\n{focus}\n\n"
        "<request>\n{conversation}\n</request>\n\n"
        "<response_A{language}>\n{a}\n</response_A>\n\n"
        "<response_B{language}>\n{b}\n</response_B>\n\n"
        "First compare the two responses in a few sentences. Then, on the last line, write which one is "
        "better as `Winner: A` or `Winner: B`."
    ),
    focus_all="Weigh every criterion above when you compare.",
    focus_aspect="Compare the responses only on {aspect}",
)
