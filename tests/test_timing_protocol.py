"""The timing worker's protocol: one JSON object per line each way, parsed by its tag; anything
else is refused rather than guessed at."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from quantarena.runner.timing_protocol import (
    Failure,
    QuitRequest,
    Ready,
    TimeRequest,
    WindowReply,
    parse_reply,
    parse_request,
)


def test_requests_and_replies_survive_one_line_each() -> None:
    for request in (TimeRequest(min_seconds=0.5, min_calls=5), QuitRequest()):
        line = request.model_dump_json()
        assert "\n" not in line and parse_request(line) == request
    replies = [
        Ready(load_seconds=1.0, warmup_calls=10, warmup_stable=True, rss_mb=200.0),
        Ready(load_seconds=1.0, warmup_calls=0, warmup_stable=False, rss_mb=200.0,
              age_seconds=4.2),
        WindowReply(median_ms=2.5, calls=200, seconds=0.5, cpu_s=0.9),
        Failure(reason="ONNX Runtime cannot load model.onnx: bad file"),
    ]
    for reply in replies:
        assert parse_reply(reply.model_dump_json()) == reply


@pytest.mark.parametrize("line", ['{"cmd": "dance"}', '{"cmd": "time"}', "not json",
                                  '{"cmd": "quit", "extra": 1}'])
def test_a_malformed_request_is_refused(line: str) -> None:
    with pytest.raises(ValidationError):
        parse_request(line)
