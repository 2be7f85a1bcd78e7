"""Parsing answers into models: conversions, tolerance, and clear errors for bad fields."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from typing import Any

import attr
import pytest

from wechat_openapi import (
    AuditStatus,
    InvalidResponseError,
    NicknameAudit,
    OpenAccount,
    RidInfo,
)

RECORD: dict[str, Any] = {
    "invoke_time": 1635927956,
    "cost_in_ms": 100,
    "request_url": "access_token=OLD-CALL-TOKEN&foo=1",
    "request_body": '{"appid": "wx1"}',
    "response_body": "not json",
    "client_ip": "113.0.70.51",
}
AUDIT: dict[str, Any] = {
    "nickname": "name",
    "audit_stat": 1,
    "fail_reason": "",
    "create_time": 1519724071,
    "audit_time": 0,
}
UTC = timezone.utc


def test_rid_info_accepts_the_nested_and_the_flat_layouts_alike() -> None:
    nested = RidInfo.from_response({"errcode": 0, "request": RECORD})
    flat = RidInfo.from_response({"errcode": 0, **RECORD})
    assert nested == flat
    assert nested.invoke_time == datetime(2021, 11, 3, 8, 25, 56, tzinfo=UTC)
    assert nested.invoke_time.tzinfo is UTC


def test_rid_info_json_helpers() -> None:
    info = RidInfo.from_response(RECORD)
    assert info.request_json() == {"appid": "wx1"}
    assert info.response_json() is None
    assert attr.evolve(info, response_body="").response_json() is None
    assert attr.evolve(info, response_body="[" * 100_000).response_json() is None


def test_rid_info_repr_masks_the_recorded_token_but_keeps_the_value() -> None:
    info = RidInfo.from_response(RECORD)
    assert "OLD-CALL-TOKEN" not in repr(info)
    assert "request_url='access_token=***&foo=1'" in repr(info)
    assert info.request_url == RECORD["request_url"]


def test_optional_rid_strings_default_to_empty() -> None:
    info = RidInfo.from_response({"invoke_time": 1, "cost_in_ms": "7"})
    assert (info.request_url, info.request_body, info.response_body, info.client_ip) == (
        "",
        "",
        "",
        "",
    )
    assert info.cost_in_ms == 7


def test_unknown_fields_are_ignored() -> None:
    assert OpenAccount.from_response({"open_appid": "wx", "new_field": [1, 2]}).open_appid == "wx"
    assert NicknameAudit.from_response({**AUDIT, "extra": {"a": 1}}).nickname == "name"


@pytest.mark.parametrize(
    ("stat", "expected"),
    [(1, AuditStatus.PENDING), (2, AuditStatus.REJECTED), (3, AuditStatus.APPROVED), ("3", 3)],
)
def test_documented_audit_states_become_enum_members(stat: Any, expected: AuditStatus) -> None:
    audit = NicknameAudit.from_response({**AUDIT, "audit_stat": stat})
    assert audit.audit_stat is AuditStatus(expected)


def test_an_undocumented_audit_state_is_kept_as_an_int() -> None:
    audit = NicknameAudit.from_response({**AUDIT, "audit_stat": 9})
    assert audit.audit_stat == 9
    assert not isinstance(audit.audit_stat, AuditStatus)


@pytest.mark.parametrize("missing", [0, "0", None])
def test_audit_time_is_none_until_the_audit_completes(missing: Any) -> None:
    data = {**AUDIT, "audit_time": missing}
    if missing is None:
        del data["audit_time"]
    assert NicknameAudit.from_response(data).audit_time is None


def test_times_sent_as_numeric_strings_or_integral_floats_are_accepted() -> None:
    audit = NicknameAudit.from_response(
        {**AUDIT, "create_time": "1519724071", "audit_time": 1519724950.0}
    )
    assert audit.create_time == datetime(2018, 2, 27, 9, 34, 31, tzinfo=UTC)
    assert audit.audit_time == datetime(2018, 2, 27, 9, 49, 10, tzinfo=UTC)


BAD_ANSWERS = [
    pytest.param(RidInfo, {}, "invoke_time", id="rid: nothing"),
    pytest.param(RidInfo, {"request": "x"}, "request", id="rid: request not an object"),
    pytest.param(RidInfo, {"invoke_time": 1}, "cost_in_ms", id="rid: no cost"),
    pytest.param(RidInfo, {**RECORD, "invoke_time": "soon"}, "invoke_time", id="rid: word time"),
    pytest.param(RidInfo, {**RECORD, "invoke_time": True}, "invoke_time", id="rid: bool time"),
    pytest.param(RidInfo, {**RECORD, "invoke_time": 1.5}, "invoke_time", id="rid: fraction"),
    pytest.param(RidInfo, {**RECORD, "invoke_time": 10**20}, "invoke_time", id="rid: far future"),
    pytest.param(
        RidInfo, {**RECORD, "invoke_time": "9" * 5000}, "invoke_time", id="rid: 5k digits"
    ),
    pytest.param(RidInfo, {**RECORD, "invoke_time": float("nan")}, "invoke_time", id="rid: NaN"),
    pytest.param(RidInfo, {**RECORD, "client_ip": 5}, "client_ip", id="rid: ip not str"),
    pytest.param(RidInfo, {**RECORD, "cost_in_ms": [1]}, "cost_in_ms", id="rid: list cost"),
    pytest.param(OpenAccount, {}, "open_appid", id="open: missing"),
    pytest.param(OpenAccount, {"open_appid": ""}, "open_appid", id="open: empty"),
    pytest.param(OpenAccount, {"open_appid": None}, "open_appid", id="open: null"),
    pytest.param(NicknameAudit, {}, "audit_stat", id="audit: nothing"),
    pytest.param(NicknameAudit, {**AUDIT, "audit_stat": None}, "audit_stat", id="audit: null"),
    pytest.param(NicknameAudit, {**AUDIT, "nickname": 3}, "nickname", id="audit: int name"),
    pytest.param(NicknameAudit, {**AUDIT, "create_time": {}}, "create_time", id="audit: dict"),
    pytest.param(NicknameAudit, {**AUDIT, "audit_time": "x"}, "audit_time", id="audit: word"),
]


@pytest.mark.parametrize(("model", "data", "field"), BAD_ANSWERS)
def test_unusable_answers_raise_invalid_response_naming_the_field(
    model: type[Any], data: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidResponseError, match=repr(field)) as caught:
        model.from_response(data)
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    "instance",
    [
        RidInfo.from_response(RECORD),
        OpenAccount(open_appid="wx"),
        NicknameAudit.from_response(AUDIT),
    ],
    ids=lambda instance: type(instance).__name__,
)
def test_models_are_frozen_slotted_and_picklable(instance: Any) -> None:
    with pytest.raises(attr.exceptions.FrozenInstanceError):
        instance.__setattr__(attr.fields(type(instance))[0].name, None)
    assert not hasattr(instance, "__dict__")
    assert pickle.loads(pickle.dumps(instance)) == instance
