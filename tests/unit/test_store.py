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


# issue 22: every text field of the application database goes through the same redaction
HIDDEN = ["0086 139 1234 5678", "壹叁玖壹贰叁肆伍陆柒捌", "11010519491231002 X"]


def _no_number(*values) -> bool:
    from bot.text.privacy import contains_personal_number

    return not any(contains_personal_number(str(v or "")) for v in values)


@pytest.mark.parametrize("typed", HIDDEN)
def test_every_feedback_and_review_field_is_redacted(tmp_path, typed):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    appdb.record_feedback(f"web-{typed}", "down", f"问{typed}", f"ask_{typed}", [24], f"rest{typed}", url=url)
    appdb.record_review(
        "staff", f"问{typed}", f"ask_{typed}", [24], "wrong", correct_intent=f"x{typed}", comment=typed, url=url
    )
    (fb,) = appdb.list_feedback(url)
    (review,) = appdb.list_reviews(url)
    assert _no_number(fb.sender_id, fb.question, fb.intent, fb.channel)
    assert _no_number(review.question, review.intent, review.correct_intent, review.comment)


@pytest.mark.parametrize("typed", HIDDEN)
def test_the_handled_groups_key_and_words_are_redacted(tmp_path, typed):
    from bot.storage import reviewstate

    url = f"sqlite:///{tmp_path / 'app.db'}"
    record = reviewstate.mark_handled(f"键{typed}", f"问{typed}", ["居住证", typed, *typed.split()], "staff", url=url)
    (stored,) = reviewstate.handled_groups(url)
    assert _no_number(record.key, stored.key, stored.text, " ".join(stored.words))
    assert reviewstate.reopen(f"键{typed}", url=url)  # the same key still names the group
