"""Feedback is stored through SQLAlchemy, redacted, in the application database."""

from __future__ import annotations

import pytest

from bot.storage import appdb


def test_feedback_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    appdb.record_feedback(
        "u1",
        "down",
        "我身份证11010519491231002X办居住证要多久",
        "ask_residence_permit_conditions",
        [24],
        "rest",
        url=url,
    )
    appdb.record_feedback("u2", "up", "毕业生落户", "ask_settle_graduate_materials", [22], None, url=url)
    rows = appdb.list_feedback(url)
    assert [r.value for r in rows] == ["up", "down"]
    assert rows[1].measures == (24,) and rows[1].channel == "rest"
    assert "11010519491231002X" not in rows[1].question and "[身份证号]" in rows[1].question


def test_bad_value(tmp_path):
    with pytest.raises(ValueError):
        appdb.record_feedback("u", "meh", "q", None, [], url=f"sqlite:///{tmp_path / 'a.db'}")
