"""The worker's marker lines survive what user code prints, and a line that is not a whole
event is never taken for a result (fast: no worker process)."""

import json

from mnist_bench.execute import protocol
from mnist_bench.execute.process import Attempt, Outcome
from mnist_bench.execute.sink import outcome_fields

RESULT = {"event": "result", "result": {"status": "ok"}}


def test_a_marker_after_output_without_a_newline_is_still_read():
    noise, event = protocol.parse("..." + protocol.MARK + json.dumps(RESULT) + "\n")
    assert noise == "..." and event == RESULT


def test_a_torn_or_foreign_marker_line_is_noise_not_an_event():
    for line in (protocol.MARK + '{"event": "result", "res',  # torn mid-write
                 protocol.MARK + "not json at all",
                 protocol.MARK + json.dumps({"result": {"status": "ok"}}),  # no event
                 protocol.MARK + json.dumps(["a", "list"])):
        noise, event = protocol.parse(line)
        assert event is None and noise == line


def test_emit_starts_a_line_of_its_own(capsys):
    print("progress dots", end="")
    protocol.emit(**RESULT)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "progress dots" and protocol.parse(lines[-1]) == ("", RESULT)


def test_an_error_without_a_message_still_says_something():
    fields = outcome_fields(Attempt(0.1, outcome=Outcome(error=None, returncode=3, tail=[])), 60)
    assert fields == {"status": "failed", "reason": "worker exited with code 3", "output_tail": []}
    timed = outcome_fields(Attempt(0.1, outcome=Outcome(timed_out=True, tail=["x"])), 60)
    assert timed["status"] == "timeout" and "60 s" in timed["reason"]
