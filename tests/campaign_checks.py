"""What a campaign asserts about each call, and the summary it keeps.

Per call: the outcome is a model of the method's type (None where the method returns None)
or a WeChatError; it finished within its deadline and a second; no text of its error or of
the records it logged shows a secret of the call (see :mod:`tests.campaign_leaks`); and the
oracles hold against what the server records:

- a model names (by its marker) a request of this call, for this path (else: *desync*,
  another request's answer returned, or an answer nobody asked for);
- that request was answered with status 200 (no model from a non-200 answer);
- a valid answer gives exactly its values;
- when the call's last request was answered validly in faithful framing, the call succeeded
  with that answer, and when it was a faithful errcode answer, the call raised that errcode.

A failure is kept with its cause, so that failures group by cause: the check, the exception
and its message's gist, and the kind of answer that most likely caused it (the last request's
answer, with the answer before it on the same connection when that one leaves bytes behind;
for a leak, the last hostile answer of the call).
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any, Counter, Dict, List, Optional, Tuple

import attr

import wechat_openapi as wo
from tests.adversary import Adversary, Record
from tests.adversary_answers import MARKER_BASE
from tests.campaign_leaks import Secrets, error_texts

_MARKER = re.compile(r"M(\d+)\Z")


@attr.s(auto_attribs=True)
class Call:
    """One call of the campaign, as the driver made it and as it ended."""

    index: int
    tag: str
    route: str
    method: str
    deadline: float
    path: str = ""
    model: Optional[type] = None
    secrets: List[str] = attr.Factory(list)
    result: Any = None
    error: Optional[BaseException] = None
    formatted: str = ""
    duration: float = 0.0
    paused: float = 0.0  # seconds of it the whole process went without CPU (campaign_clock)
    log_texts: List[str] = attr.Factory(list)
    send_path: str = "direct route"


@attr.s(auto_attribs=True)
class Failure:
    check: str
    detail: str
    call: str  # index, route and method
    answers: str  # the kinds of answer the call's requests got
    example: str


@attr.s(auto_attribs=True)
class Summary:
    """Counts over a campaign, and its failures grouped by cause."""

    outcomes: Counter[str] = attr.Factory(collections.Counter)
    leaks: Counter[str] = attr.Factory(collections.Counter)  # calls, by kind of leak
    notes: Counter[str] = attr.Factory(collections.Counter)  # findings that are no failure
    failures: Dict[Tuple[str, str, str], List[Failure]] = attr.Factory(dict)
    calls: int = 0
    max_duration: float = 0.0
    over_deadline: int = 0
    fds: Tuple[int, int] = (0, 0)
    threads: Tuple[int, int] = (0, 0)
    redirects_followed: int = 0
    server_errors: List[str] = attr.Factory(list)
    unclosed: List[str] = attr.Factory(list)  # sockets the garbage collector had to close

    def fail(self, key: Tuple[str, str, str], failure: Failure) -> None:
        self.failures.setdefault(key, []).append(failure)

    def failed(self) -> bool:
        return bool(
            self.failures
            or self.fds[1] > self.fds[0]
            or self.threads[1] > self.threads[0]
            or self.redirects_followed
            or self.server_errors
            or self.unclosed
        )

    def failure_count(self) -> int:
        return sum(len(group) for group in self.failures.values())

    def report(self, examples: int = 1, groups: int = 60) -> str:
        lines = [f"calls: {self.calls}", "outcomes:"]
        lines += [f"  {count:6d}  {name}" for name, count in sorted(self.outcomes.items())]
        lines.append("leaks (calls): " + _counts(self.leaks))
        lines.append("notes (not failures): " + _counts(self.notes))
        lines.append(f"over deadline + 1 s: {self.over_deadline}")
        lines.append(f"max call duration: {self.max_duration:.3f} s")
        lines.append(f"fds before/after: {self.fds[0]}/{self.fds[1]}")
        lines.append(f"threads before/after: {self.threads[0]}/{self.threads[1]}")
        lines.append(f"sockets left for the garbage collector to close: {len(self.unclosed)}")
        lines.append(f"redirects followed: {self.redirects_followed}")
        lines.append(f"server (harness) errors: {len(self.server_errors)}")
        lines.append(f"failures: {self.failure_count()} in {len(self.failures)} groups")
        by_check: Counter[str] = collections.Counter()
        for (check, _, _), group in self.failures.items():
            by_check[check] += len(group)
        lines += [f"  {count:6d}  {check}" for check, count in by_check.most_common()]
        ordered = sorted(self.failures.items(), key=lambda item: -len(item[1]))
        if len(ordered) > groups:
            lines.append(f"the {groups} largest groups of {len(ordered)}:")
        for (check, detail, cause), group in ordered[:groups]:
            lines.append(f"  {len(group):6d}  {check}: {detail}  <- {cause}")
            for failure in group[:examples]:
                lines.append(f"          e.g. {failure.call}; answers {failure.answers}")
                lines.append(f"          {failure.example}")
        for error in self.server_errors[:3]:
            lines.append(error)
        return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "none"


def check_call(call: Call, server: Adversary, summary: Summary) -> None:
    """Check one finished call and add it to ``summary`` (see the module's doc)."""
    records = server.requests_of(call.tag)
    answers = " > ".join(_describe(record) for record in records) or "no request"
    last = records[-1] if records else None
    cause = _cause(last) if last is not None else "no request"
    who = f"call {call.index} {call.route}/{call.method} ({call.send_path})"
    hostile = [record for record in records if not record.answer.kind.startswith("valid")]
    quoting = [record for record in hostile if record.echoed] or hostile
    leak_cause = _cause(quoting[-1]) if quoting else cause

    def fail(check: str, detail: str, example: str = "") -> None:
        text = example or (call.formatted.strip().splitlines() or [""])[-1]
        text = " | ".join(line.strip() for line in text.splitlines())[:400]
        why = leak_cause if check.startswith("leak") else cause
        summary.fail((check, detail, why), Failure(check, detail, who, answers, text))

    summary.calls += 1
    summary.max_duration = max(summary.max_duration, call.duration)
    if call.duration > call.deadline + 1:
        if call.duration - call.paused > call.deadline + 1:
            summary.over_deadline += 1
            fail("over deadline", f"{call.duration:.1f} s, {call.paused:.1f} s of it paused")
        else:
            summary.notes["over deadline + 1 s while the process was starved"] += 1

    error = call.error
    if error is None:
        name = "None" if call.result is None else type(call.result).__name__
        summary.outcomes[f"result {name}"] += 1
        expected = "None" if call.model is None else call.model.__name__
        if name != expected:
            fail("wrong result", f"{name} for {expected}", repr(call.result)[:200])
    elif isinstance(error, wo.WeChatError):
        summary.outcomes[f"error {type(error).__name__}"] += 1
    else:
        summary.outcomes[f"FOREIGN {type(error).__name__}"] += 1
        frame = call.formatted.strip().splitlines()
        where = frame[-3].strip() if len(frame) >= 3 else ""
        fail("foreign exception", f"{type(error).__name__} at {where}")

    _check_leaks(call, server, summary, fail)
    if error is None and call.result is not None:
        _check_model(call, server, summary, records, fail)
    _check_faithful(call, summary, last, records, fail)


def _describe(record: Record) -> str:
    text = f"{record.path.rsplit('/', 1)[-1]}:{record.answer.kind}"
    if record.previous:
        text += f" (after {record.previous})"
    return text


# Answers that leave bytes on a kept-alive connection for the next request to trip on.
_LEFTOVERS = ("framing/length too short", "extra/at once", "extra/late")


def _cause(record: Record) -> str:
    """The kind of answer ``record`` got, for grouping: its endpoint (a token endpoint or
    not), its kind, and the answer before it on the connection if that one left bytes."""
    endpoint = record.path.rsplit("/", 1)[-1]
    kind = "token" if endpoint.endswith("token") else "api"
    text = f"{kind}:{record.answer.kind}"
    if record.previous in _LEFTOVERS:
        text += f" after {record.previous}"
    return text


def gist(error: BaseException) -> str:
    """An error's class and message without the path, numbers and quoted text: what it
    says, for grouping."""
    message = re.sub(r"POST \S+", "POST", str(error).splitlines()[0] if str(error) else "")
    message = re.sub(r"https?://\S+", "URL", message)
    message = re.sub(r"'[^']{20,}('|$)", "'...'", re.sub(r"\d+", "N", message))
    return f"{type(error).__name__}: {message[:100]}"


def _check_leaks(call: Call, server: Adversary, summary: Summary, fail: Any) -> None:
    secrets = Secrets(call.secrets + server.issued(call.tag), server.truncated(call.tag))
    texts = error_texts(call.error) if call.error is not None else []
    texts += [("log", text) for text in call.log_texts]
    found: Dict[str, Tuple[str, str]] = {}  # kind of leak -> the first (where, text)
    for where, text in texts:
        if where == "pickle failed":
            fail("error does not pickle", text)
            continue
        kind = secrets.find(text)
        if kind is not None and kind not in found:
            found[kind] = (where, text)
    for kind, (where, text) in found.items():
        if kind == "truncated echo":
            summary.notes["a server-truncated echo shown"] += 1
            continue
        summary.leaks[kind] += 1
        if where == "log":
            where = "log " + " ".join(text.split("\n", 2)[:2])  # the logger and level
        detail = f"{type(call.error).__name__ if call.error else 'success'}, in {where}"
        fail(f"leak ({kind})", detail, _around_secret(text, secrets))


def _around_secret(text: str, secrets: Secrets) -> str:
    """The text near the leak, the secret itself replaced so the report does not repeat it."""
    for secret in secrets.whole:
        text = text.replace(secret, "<SECRET>")
    at = text.find("<SECRET>")
    return text[max(0, at - 150) : at + 150] if at >= 0 else text[-300:]


def _marker(result: Any) -> Optional[int]:
    """The request number a valid answer put in the model (see adversary_answers)."""
    if isinstance(result, wo.ApiQuota):
        number = result.daily_limit - MARKER_BASE
        return number if number > 0 else None
    text = getattr(result, "open_appid", None) or getattr(result, "nickname", None)
    text = text or getattr(result, "client_ip", None)
    if isinstance(text, str):
        match = _MARKER.search(text)
        if match:
            return int(match.group(1))
    return None


def _check_model(
    call: Call, server: Adversary, summary: Summary, records: List[Record], fail: Any
) -> None:
    number = _marker(call.result)
    if number is None:
        if not any(record.answer.kind.startswith("mutated") for record in records):
            fail("model without a marker", type(call.result).__name__, repr(call.result)[:200])
        return
    record = server.records.get(number)
    if record is None:
        if not any(record.answer.kind.startswith("mutated") for record in records):
            fail("model from no request", f"marker {str(number)[:40]}")
        return
    if record.tag is None:  # sent with a token the server never issued: a mutated one
        summary.notes["a model from a request no call could be named for"] += 1
        return
    if record.tag != call.tag or record.path != call.path:
        if record.answer.kind == "extra/smuggled late":
            summary.notes["desync by a late extra answer (the keep-alive race)"] += 1
            return
        time.sleep(0.5)  # the server may not have read this call's own request yet
        own = [_describe(mine) for mine in server.requests_of(call.tag)] or ["none"]
        example = f"marker {number}, request of {record.tag}; its own requests: {' > '.join(own)}"
        fail("desync", f"answer of {record.answer.kind} on {record.path}", example)
        return
    if record.answer.status != 200:
        fail("model from a non-200 answer", record.answer.kind)
        return
    expected = record.answer.expected
    if record.answer.kind.startswith(("valid", "extra")) and expected:
        got = {name: getattr(call.result, name) for name in expected}
        if got != expected:
            fail("wrong values", record.answer.kind, f"{got} != {expected}")


def _check_faithful(
    call: Call, summary: Summary, last: Optional[Record], records: List[Record], fail: Any
) -> None:
    if last is None or not last.answer.faithful or last.path != call.path:
        return
    if any(record.after_late_extra for record in records):
        return  # a late extra answer may have been read in its place: the documented race
    if call.duration >= call.deadline - 0.1:
        return  # earlier answers used up the deadline
    error = call.error
    if isinstance(error, wo.RequestTimeoutError):  # sent at once; a busy machine was slower
        summary.notes[f"a faithful answer timed out ({last.answer.kind})"] += 1
        return
    code = last.answer.errcode
    if code is None:
        if error is not None:
            fail("valid faithful answer failed", gist(error))
        elif call.result is not None and _marker(call.result) != last.number:
            fail("valid faithful answer not returned", f"marker {_marker(call.result)}")
    elif not (isinstance(error, wo.APIError) and error.errcode == code):
        got = gist(error) if error is not None else "success"
        fail("faithful errcode answer not raised", f"{got} for an errcode answer")
