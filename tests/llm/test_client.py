"""The chat client against a real loopback server: bodies, concurrency, retries, breaker, store."""

from __future__ import annotations

import threading
import time

import pytest

from tests.llm.openai_server import OpenAIServer, Reply, completion, token_logprobs
from themis_rm.llm import (
    BlockingChatClient,
    ChatRequest,
    ClientConfig,
    RequestRejected,
    ResponseStore,
    ServerUnavailable,
    normalize_base_url,
)


def ask(text: str, **fields) -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": text}], **fields)


def echo(body):
    return Reply(body=completion("echo: " + body["messages"][-1]["content"]))


def config(url: str, **overrides) -> ClientConfig:
    settings = {"base_url": url, "model": "m", "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0}
    settings.update(overrides)
    return ClientConfig(**settings)


class Scripted:
    """Answers from a list of replies in arrival order, then falls back to `echo`."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.lock = threading.Lock()

    def __call__(self, body):
        with self.lock:
            reply = self.replies.pop(0) if self.replies else None
        return reply or echo(body)


def test_sends_openai_body_with_key_and_reads_answer_in_order():
    with OpenAIServer(echo, api_key="sekret") as server, BlockingChatClient(
        config(server.url, api_key="sekret")
    ) as client:
        answers = client.complete_all(
            [ask(str(i), max_tokens=5, temperature=0.0, seed=3, top_logprobs=2) for i in range(6)]
        )
    assert [a.text for a in answers] == [f"echo: {i}" for i in range(6)]
    assert answers[0].finish_reason == "stop" and answers[0].prompt_tokens == 10
    body = server.bodies[0]
    assert body["model"] == "m" and body["max_tokens"] == 5 and body["seed"] == 3
    assert body["temperature"] == 0.0 and body["logprobs"] is True and body["top_logprobs"] == 2


def test_wrong_key_is_rejected_at_once_with_a_hint():
    with OpenAIServer(echo, api_key="sekret") as server, BlockingChatClient(config(server.url)) as client:
        with pytest.raises(RequestRejected, match=r"401.*api-key-env"):
            client.complete_all([ask("x")])
        assert server.calls == 0 and client.stats.attempts == 1


def test_reads_top_logprobs():
    lp = [token_logprobs("Yes", -0.1, {"Yes": -0.1, "No": -2.5})]
    with OpenAIServer(lambda b: Reply(body=completion("Yes", logprobs=lp))) as server, BlockingChatClient(
        config(server.url)
    ) as client:
        (answer,) = client.complete_all([ask("q", top_logprobs=2)])
    assert answer.logprobs[0].token == "Yes"
    assert answer.logprobs[0].top == (("Yes", -0.1), ("No", -2.5))


def test_concurrency_is_bounded_and_used():
    active, peak, lock = [0], [0], threading.Lock()

    def slow(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return echo(body)

    with OpenAIServer(slow) as server, BlockingChatClient(config(server.url, concurrency=4)) as client:
        client.complete_all([ask(str(i)) for i in range(16)])
    assert peak[0] == 4


def test_retries_429_honouring_retry_after_and_5xx():
    script = Scripted(
        Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0.01"}),
        Reply(503, {"error": {"message": "overloaded"}}),
        Reply(500, "not json at all"),
    )
    with OpenAIServer(script) as server, BlockingChatClient(config(server.url, concurrency=1)) as client:
        (answer,) = client.complete_all([ask("hi")])
        stats = client.stats
    assert answer.text == "echo: hi"
    assert stats.attempts == 4 and stats.retries == 3 and stats.rate_limited == 1 and stats.failed_attempts == 3
    assert stats.as_dict()["error_rate"] == 0.75


def test_retries_time_outs_dropped_connections_and_garbled_bodies():
    script = Scripted(
        Reply(delay=1.0), Reply(drop=True), Reply(200, "{garbled"), Reply(200, {"choices": []}), Reply(200, "[1, 2]")
    )
    with OpenAIServer(script) as server, BlockingChatClient(
        config(server.url, concurrency=1, timeout=0.3)
    ) as client:
        (answer,) = client.complete_all([ask("hi")])
        assert client.stats.retries == 5
    assert answer.text == "echo: hi"


def test_gives_up_after_max_retries_with_a_clear_message():
    always = lambda body: Reply(502, {"error": {"message": "bad gateway"}})  # noqa: E731
    with OpenAIServer(always) as server, BlockingChatClient(
        config(server.url, max_retries=2, breaker_threshold=100)
    ) as client:
        with pytest.raises(ServerUnavailable, match=r"after 3 attempts.*HTTP 502.*Rerunning the same command resumes"):
            client.complete_all([ask("hi")])
        assert server.calls == 3


def test_circuit_breaker_stops_a_run_against_a_dead_server_quickly():
    server = OpenAIServer(echo).start()
    server.stop()  # nothing listens on this port any more
    started = time.perf_counter()
    with BlockingChatClient(config(server.url, concurrency=8, max_retries=10, breaker_threshold=12)) as client:
        with pytest.raises(ServerUnavailable, match=r"is not answering \(12 failed attempts in a row.*ConnectError"):
            client.complete_all([ask(str(i)) for i in range(200)])
        attempts = client.stats.attempts
    assert attempts < 12 + 8  # the requests still waiting never reach the network
    assert time.perf_counter() - started < 5


def test_a_success_resets_the_breaker():
    replies = []
    for _ in range(5):
        replies += [Reply(500, {"error": {"message": "flaky"}})] * 2 + [None]
    script = Scripted(*replies)
    with OpenAIServer(script) as server, BlockingChatClient(
        config(server.url, concurrency=1, breaker_threshold=3)
    ) as client:
        answers = client.complete_all([ask(str(i)) for i in range(5)])
    assert len(answers) == 5 and client.stats.failed_attempts == 10


def test_context_overflow_can_be_tolerated_per_request():
    def handler(body):
        if body["messages"][-1]["content"] == "long":
            message = "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens."
            return Reply(400, {"error": {"message": message}})
        return echo(body)

    with OpenAIServer(handler) as server, BlockingChatClient(config(server.url)) as client:
        first, second = client.complete_all([ask("long"), ask("short")], tolerate=_overflow)
        with pytest.raises(RequestRejected):
            client.complete_all([ask("long")])
    assert isinstance(first, RequestRejected) and first.context_overflow and first.status == 400
    assert second.text == "echo: short"


def _overflow(err) -> bool:
    return isinstance(err, RequestRejected) and err.context_overflow


def test_store_resumes_an_interrupted_run_and_gives_the_same_answers(tmp_path):
    requests = [ask(str(i)) for i in range(10)]
    counted = [0]

    def dies_after_four(body):
        counted[0] += 1
        if counted[0] > 4:
            return Reply(403, {"error": {"message": "quota exhausted"}})
        return echo(body)

    store = ResponseStore(tmp_path / "cache.sqlite")
    with (
        OpenAIServer(dies_after_four) as server,
        BlockingChatClient(config(server.url, concurrency=1), store) as client,
        pytest.raises(RequestRejected),
    ):
        client.complete_all(requests)
    assert len(store) == 4

    with OpenAIServer(echo) as server, BlockingChatClient(config(server.url, concurrency=3), store) as client:
        resumed = client.complete_all(requests)
        assert client.stats.from_store == 4 and server.calls == 6
    with OpenAIServer(echo) as server, BlockingChatClient(config(server.url)) as client:
        fresh = client.complete_all(requests)
    assert resumed == fresh
    store.close()


def test_request_key_covers_the_body_but_not_the_server():
    a = ask("x", temperature=0.0)
    assert a.key("m") == ask("x", temperature=0.0).key("m")
    assert a.key("m") != ask("x", temperature=0.5).key("m") != a.key("other")
    assert a.key("m") != ask("x", temperature=0.0, extra={"top_k": 1}).key("m")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("http://h:1", "http://h:1/v1"), ("http://h:1/v1/", "http://h:1/v1"), ("https://api.x.com/v1", "https://api.x.com/v1")],
)
def test_base_url_normalisation(given, expected):
    assert normalize_base_url(given) == expected


def test_bad_base_url_is_refused():
    with pytest.raises(ValueError, match="base URL"):
        normalize_base_url("localhost:8000")


def test_blocking_client_works_from_inside_a_running_event_loop():
    import asyncio

    async def notebook_cell():
        with OpenAIServer(echo) as server, BlockingChatClient(config(server.url)) as client:
            return client.complete_all([ask("from a loop")])

    (answer,) = asyncio.run(notebook_cell())
    assert answer.text == "echo: from a loop"
