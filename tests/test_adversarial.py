"""A short, seeded run of the adversarial campaign (``python -m tests.campaign`` runs long
ones): every public call against a server that answers with valid answers in every framing,
mutated JSON, bombs, bad framing, trickles, stalls, redirects, echoes of the request's secrets
and answers nobody asked for. Each call must end in a model or a WeChatError within its
deadline and a second, show no secret anywhere, and agree with what the server sent; the run
must leave no file descriptor or thread behind. The seeds are fixed, so a failure replays
with the same command line the assertion message prints."""

from __future__ import annotations

import pytest

from tests.campaign import run


@pytest.mark.parametrize(
    ("seed", "threads", "calls"),
    [
        pytest.param(101, 1, 200, id="1 thread"),
        pytest.param(102, 4, 300, id="4 threads"),
        pytest.param(103, 16, 400, id="16 threads"),
    ],
)
def test_every_call_against_the_adversary_ends_in_a_model_or_a_wechat_error_and_leaks_nothing(
    seed: int, threads: int, calls: int
) -> None:
    summary = run(calls, threads, seed, deadline=1.0)
    replay = (
        f"python -m tests.campaign --calls {calls} --threads {threads} --seed {seed} --deadline 1"
    )
    assert summary.calls == calls
    assert not summary.failed(), f"{replay}\n{summary.report()}"
