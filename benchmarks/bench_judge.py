"""Judge client throughput: concurrent requests against sequential ones, with identical scores.

    python benchmarks/bench_judge.py                  # 256 requests at concurrency 32; 64 of them sequentially
    python benchmarks/bench_judge.py --latency 0.1 --concurrency 64 --requests 512

A minimal loopback OpenAI-compatible server, in its own process, waits a fixed time per
request (`--latency`, standing in for the judge's generation time: 0.2 s here, seconds for a
real critique) and answers with a score derived from the prompt. The same `judge:` scorer
scores the first `--sequential` requests with `--concurrency 1` (sequential calls) and all
`--requests` at the concurrency asked for; the script prints both rates, their ratio and the
machine's load, checks that the shared requests got identical scores and details, and exits 1
if the ratio is below `--min-ratio` (20 by default) or any result differs. The client's own
cost per request (~1 ms of CPU) is what keeps the ratio below the ideal (= concurrency); on a
loaded machine it grows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback server lives in tests/

from tests.llm.openai_server import Reply, completion

from themis_rm.criteria import CriteriaTexts
from themis_rm.schema import CODE_ASPECTS, Language, ScoreRequest
from themis_rm.scoring import load_scorer


def judge_answer(body: dict) -> Reply:
    """A critique and a score that depend only on the prompt, so both runs must agree."""
    digest = hashlib.sha256(body["messages"][-1]["content"].encode()).digest()
    score = 1 + digest[0] % 10
    return Reply(body=completion(f"The response is plausible but could be tighter.\nScore: {score}"))


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float) -> None:
    """One keep-alive HTTP/1.1 connection: enough of the protocol for POST /v1/chat/completions."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = json.loads(await reader.readexactly(length))
            await asyncio.sleep(latency)  # the judge "thinks"; other connections are served meanwhile
            data = json.dumps(judge_answer(body).body).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(data), data))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve(latency: float, url_out, stop) -> None:
    """A minimal asyncio server in its own process (as a real judge server would be, with no shared GIL):
    its own cost per request is small next to the latency, so the ratio measures the client."""

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _connection(r, w, latency), "127.0.0.1", 0, backlog=512)
        url_out.send(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1")
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        server.close()

    asyncio.run(main())


def make_requests(count: int) -> list[ScoreRequest]:
    texts = CriteriaTexts()
    languages = list(Language)
    requests = []
    for i in range(count):
        aspect = CODE_ASPECTS[i % len(CODE_ASPECTS)]
        requests.append(
            ScoreRequest(
                system=texts.system_prompt("aspect", aspect),
                prompt=f"Write a function that returns the {i}-th triangular number.",
                response=f"def triangle(n):\n    return n * (n + 1) // 2  # variant {i}\n",
                aspect=aspect,
                language=languages[i % len(languages)],
                mode="aspect",
            )
        )
    return requests


def timed_run(url: str, requests: list[ScoreRequest], concurrency: int):
    scorer = load_scorer(f"judge:bench-judge@{url}", {"concurrency": concurrency, "timeout": 30.0})
    started = time.perf_counter()
    results = scorer.score(requests)
    seconds = time.perf_counter() - started
    stats = scorer.stats()
    scorer.close()
    return results, seconds, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=256, help="requests in the concurrent run")
    parser.add_argument("--sequential", type=int, default=64, help="of those, how many the sequential run repeats")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server waits per request")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--min-ratio", type=float, default=20.0)
    args = parser.parse_args()

    requests = make_requests(args.requests)
    prefix = requests[: args.sequential]
    receiver, sender = multiprocessing.Pipe(duplex=False)
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.latency, sender, stop), daemon=True)
    server.start()
    try:
        url = receiver.recv()
        timed_run(url, requests[: args.concurrency], args.concurrency)  # warm-up: imports, first connections
        sequential, seq_seconds, _ = timed_run(url, prefix, 1)
        concurrent, con_seconds, stats = timed_run(url, requests, args.concurrency)
    finally:
        stop.set()
        server.join(timeout=10)

    seq_rate, con_rate = len(prefix) / seq_seconds, len(requests) / con_seconds
    ratio = con_rate / seq_rate
    identical = repr(sequential) == repr(concurrent[: len(prefix)])
    report = {
        "config": {**vars(args), "python": platform.python_version(), "machine": platform.machine(),
                   "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)},
        "sequential": {"requests": len(prefix), "seconds": round(seq_seconds, 3),
                       "requests_per_second": round(seq_rate, 2)},
        "concurrent": {"requests": len(requests), "seconds": round(con_seconds, 3),
                       "requests_per_second": round(con_rate, 2), "tokens_per_second": stats.get("tokens_per_second"),
                       "error_rate": stats.get("error_rate")},
        "ratio": round(ratio, 2),
        "ideal_ratio": min(args.concurrency, len(requests)),
        "identical_results": identical,
    }
    print(json.dumps(report, indent=2))
    print(
        f"judge client: {con_rate:,.1f} req/s at concurrency {args.concurrency} vs {seq_rate:,.1f} req/s sequential "
        f"= {ratio:.1f}x (need >= {args.min_ratio:g}x); same scores on the {len(prefix)} shared requests: {identical}"
    )
    return 0 if identical and ratio >= args.min_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())
