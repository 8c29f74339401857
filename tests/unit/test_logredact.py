"""bot.text.logredact: no log record of any service carries a resident's number.

Not in any digit form, escaped or not, whoever configured the logging.

The record-level tests run a small program in a fresh interpreter (logging is process-wide
state), configured the way each service is: Rasa's root handler and structlog JSON, Sanic's
access log with its ``extra`` fields, handlers added after :func:`bot.text.logredact.install`, a
logger with no handler at all (Python's last resort), a broken ``bot/replies/privacy.yml``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import logredact
from bot.text.logredact import redact_text
from tests.support.logged_numbers import ALL_TYPED, CARD, ID_NUMBER, MOBILE, full_width, leaks, written_forms
from tests.support.paths import ROOT

# --- the text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ALL_TYPED)
def test_every_written_form_of_every_number_is_redacted(typed):
    for form in sorted(written_forms(typed)):
        line = f"2026-01-01 12:00:00 ERROR rasa.core.processor  - body='b'{{\"text\":\"我的号码{form}谢谢\"}}''"
        out = redact_text(line)
        assert not leaks(out), (form, out)
        assert "ERROR rasa.core.processor" in out


@pytest.mark.parametrize(
    "line",
    [
        # issue 11's typed payload, as Rasa logs the text it received
        '/ask_service_weekend{"city":"\\u0031\\u0033\\u0039\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038"}',
        '"text": "\\u0022\\u0031\\u0033\\u0039\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0022"',
        "GET /console/api/conversations?q=139+1234+5678 HTTP/1.1",
        "GET /x/139%E2%80%8B1234%E2%80%8B5678 HTTP/1.1",  # zero-width spaces, percent-encoded
        # issue 22: a 0086 path, and 大写 digits percent-encoded in a query
        "GET /console/api/conversation/008613912345678 HTTP/1.1",
        "GET /console/api/conversations?q=" + quote("壹叁玖壹贰叁肆伍陆柒捌") + " HTTP/1.1",
        "GET /console/api/conversations?q=%2B86%20139%201234%205678 HTTP/1.1",
        "body=b'\\xe4\\xb8\\x80\\xe4\\xb8\\x89\\xe4\\xb9\\x9d"
        + "".join("\\x" + "\\x".join(f"{b:02x}" for b in ch.encode()) for ch in "一二三四五六七八")
        + "'",
    ],
)
def test_numbers_behind_escapes_and_url_encoding_are_redacted(line):
    out = redact_text(line)
    assert "[手机号]" in out, out
    assert not leaks(out) and "139" not in out.replace("[手机号]", "")


@pytest.mark.parametrize(
    "line",
    [
        "Starting Rasa server on http://0.0.0.0:5005",
        "2026-01-01 12:00:00,123 INFO     rasa_sdk.executor  - Registered function for 'action_answer_measure'.",
        '127.0.0.1 [01/Jan/2026:12:00:00 +0000] "POST /api/message HTTP/1.1" 200 1234 "-" "curl/8.0"',
        "2026-01-01 12:00:00,123 INFO rasa.core.processor  - Predicted next action 'action_listen'",
        "办理时限由15个工作日压缩至10个工作日，800平方米以下，举报电话12389，2018年8月10日",
        "conversation 3f2a9c1e7b6d4e2f8a1b0c9d8e7f6a5b took 0.123 s",
        "\\u529e\\u7406\\u65f6\\u9650 15 \\u4e2a\\u5de5\\u4f5c\\u65e5",  # escaped, no number in it
    ],
)
def test_lines_without_personal_numbers_are_unchanged(line):
    assert redact_text(line) == line


def test_secrets_and_token_parameters_are_replaced():
    logredact.add_secrets(["a-secret-value-of-the-test-1234"])
    out = redact_text("calling http://127.0.0.1:5055/webhook?token=abc123XYZ&x=1 with a-secret-value-of-the-test-1234")
    assert "abc123XYZ" not in out and "a-secret-value-of-the-test-1234" not in out
    assert "?token=[redacted]&x=1" in out
    assert redact_text("short secrets are ignored: ab") == "short secrets are ignored: ab"


def test_the_digit_precheck_covers_every_character_privacy_reads_as_digits():
    """The cheap count that skips redaction must never undercount.

    Every character that bot.text.privacy folds to digits is counted, and by at least as many
    digits as it folds to.
    """
    import re

    from bot.text.privacy import _fold

    for code in range(0x80, 0x110000):
        ch = chr(code)
        digits = sum(c in "0123456789" for c in _fold(ch))
        if digits:
            assert logredact._digit_weight(ch) >= digits, f"U+{code:04X} {ch!r}"
    assert re.fullmatch(r"\d", "١")  # Arabic-Indic digits are decimal digits for the regex too


def test_no_character_that_ends_a_stretch_is_one_privacy_reads_through():
    """The precheck splits text at letters and punctuation; none of those may count for bot.text.privacy.

    None may be a separator, space, invisible or unassigned character or digit for it (e.g. ・, 一, U+9FFF).
    """
    import re

    breaker = re.compile(logredact._STRETCH.pattern.replace("[^", "[", 1).removesuffix("{6,}"))
    wrong = [
        f"U+{code:04X}"
        for code in range(0x110000)
        if breaker.match(chr(code)) and not logredact._ends_a_number(chr(code))
    ]
    assert not wrong
    for ch in "・一幺〇 -，\u200b\u3097+":
        assert not breaker.match(ch), repr(ch)


@pytest.mark.parametrize(
    "line",
    [
        "INFO rasa.core.processor  - Predicted next action 'action_listen' with confidence 1.00 "
        "after 12 of 345 steps in 0.123 s",
        '127.0.0.1 "POST /api/message HTTP/1.1" 200 1234 "-" "curl/8.0" 0.0123',
    ],
)
def test_lines_with_figures_but_no_number_skip_the_full_redaction(line):
    """Lines with more than 11 digits but no stretch that could be a number.

    They cost a few scans, a fraction of a full bot.text.privacy.redact. A timestamp
    (``2026-01-01 12:00:00``) is such a stretch since issue 22: a colon separates digits as
    residents type them (139：1234：5678), so a line with one is read in full; it is still
    passed through unchanged (``test_lines_without_personal_numbers_are_unchanged``).
    """
    import timeit

    from bot.text.privacy import redact

    assert not logredact.may_hold_number(line)
    ours = min(timeit.repeat(lambda: redact_text(line), number=300, repeat=3))
    full = min(timeit.repeat(lambda: redact(line), number=300, repeat=3))
    assert ours < full / 2, f"{ours / 300 * 1e6:.0f} µs against {full / 300 * 1e6:.0f} µs per line"


_NOISE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_FORMS = [
    str.maketrans("0123456789", f)
    for f in (
        "0123456789",
        "０１２３４５６７８９",
        "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
        "〇一二三四五六七八九",
        "零幺二三四五六七八九",
    )
]
_INSIDE = st.sampled_from(
    [
        "",
        "",
        " ",
        "-",
        "—",
        ".",
        "·",
        "・",
        "/",
        "_",
        ",",
        "，",
        "、",
        "－",
        "．",
        "\u200b",
        "\u3000",
        "\U000e0080",
        "\u3097",
        "\u9fff",
        "\x00",
        "\ufeff",
        "  -  ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    number=st.sampled_from([MOBILE, ID_NUMBER, CARD, "15877012345"]),
    form=st.integers(0, len(_FORMS) - 1),
    seps=st.lists(_INSIDE, min_size=19, max_size=19),
    before=_NOISE,
    after=_NOISE,
)
def test_the_precheck_never_skips_what_privacy_would_redact(number, form, seps, before, after):
    from bot.text.privacy import redact

    digits = number.translate(_FORMS[form])
    typed = digits[0] + "".join(sep + d for sep, d in zip(seps, digits[1:], strict=False))
    for text in (before + typed + after, typed, before + typed):
        if redact(text) != text:
            assert logredact.may_hold_number(text), repr(text)
            assert redact_text(text) != text


# --- records, in a fresh interpreter ----------------------------------------------------------


def run_program(body: str, timeout: float = 120) -> str:
    """Run ``body`` (Python) from the project root; its stdout and stderr together."""
    program = "import logging, sys\nsys.path.insert(0, '.')\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=timeout, encoding="utf-8"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


# joined by a word: privacy.redact reads "，" between two numbers as a separator inside one
NUMBERS_TEXT = " 以及 ".join(ALL_TYPED)


def test_records_of_every_logger_and_handler_are_redacted(tmp_path):
    """Rasa's shape: nothing it logs carries a number.

    A root handler (basicConfig) and records propagating from child loggers; a file handler added
    after install; an exception whose text and traceback hold the numbers, chained to one whose
    message is an escaped JSON body (Rasa's tracker dump).
    """
    log_file = tmp_path / "later.log"
    out = run_program(f"""
        from bot.text import logredact
        logredact.install()
        logging.basicConfig(format="%(levelname)s %(name)s %(message)s", stream=sys.stdout, level=logging.INFO)
        numbers = {NUMBERS_TEXT!r}
        later = logging.FileHandler({str(log_file)!r}, encoding="utf-8")
        logging.getLogger("rasa.core").addHandler(later)
        child = logging.getLogger("rasa.core.processor")
        child.info("user said %s", numbers)
        child.info({{"text": numbers}})
        child.warning("args that do not fit %s %s", numbers)
        import json
        body = json.dumps({{"tracker": {{"events": [{{"text": numbers}}]}}}}).encode()
        try:
            try:
                raise ValueError(f"500, Internal Server Error, body='{{body!r}}'")
            except ValueError as inner:
                raise RuntimeError("Failed to execute custom action on " + numbers) from inner
        except RuntimeError:
            child.exception("Encountered an exception while running action")
        child.error("stack", stack_info=True)
        print("DONE")
    """)
    written = out + log_file.read_text(encoding="utf-8")
    assert "DONE" in out and "Encountered an exception" in written and "Traceback" in written
    assert "[手机号]" in written and "[身份证号]" in written and "[银行卡号]" in written
    assert written.count("Encountered an exception") == 2  # the root handler and the later one
    assert not leaks(written), leaks(written)


def test_rasa_structlog_json_lines_are_redacted():
    r"""Rasa's structlog writes JSON with non-ASCII escaped (``\uff11``) through the stdlib."""
    out = run_program(f"""
        from bot.text import logredact
        logredact.install()
        from rasa.utils.log_utils import configure_structlog
        configure_structlog(logging.INFO)
        import structlog
        numbers = {NUMBERS_TEXT!r}
        structlog.get_logger().error(
            "processor.actions.failed", tracker={{"events": [{{"text": numbers}}]}}, text=numbers
        )
        print("DONE")
    """)
    assert "processor.actions.failed" in out and "DONE" in out
    assert not leaks(out), leaks(out)
    line = next(line for line in out.splitlines() if "processor.actions.failed" in line)
    assert json.loads(line)["text"].count("[") >= 3  # still JSON, the numbers replaced


def test_access_log_extra_fields_are_redacted_after_sanic_configures_logging():
    """Sanic's access log puts the request line in ``extra``.

    Sanic replaces the handlers when Rasa creates its app (after install).
    """
    out = run_program(f"""
        from bot.text import logredact
        logredact.install()
        import logging.config
        from sanic.log import LOGGING_CONFIG_DEFAULTS, access_logger
        logging.config.dictConfig(LOGGING_CONFIG_DEFAULTS)
        access_logger.info("", extra={{"status": 200, "byte": 10, "host": "10.0.0.1:5000",
                                      "request": "GET http://h/conversations/{quote(full_width(MOBILE))}/tracker?token=TOPSECRET"}})
        print("DONE")
    """)
    assert "/conversations/" in out and "DONE" in out
    assert not leaks(out) and "TOPSECRET" not in out, out


def test_a_logger_without_handlers_is_redacted_by_the_last_resort():
    out = run_program(f"""
        from bot.text import logredact
        logredact.install()
        orphan = logging.getLogger("orphan")
        orphan.propagate = False
        orphan.warning("number %s", {NUMBERS_TEXT!r})
    """)
    assert "number" in out and not leaks(out), out


def test_a_broken_privacy_file_masks_the_digits_instead(tmp_path):
    broken = tmp_path / "privacy.yml"
    broken.write_text("placeholders:\n  id_card: '[证]'\n", encoding="utf-8")
    out = run_program(f"""
        import functools
        from bot.text import logredact
        from bot.text import privacy
        privacy.load_placeholders = functools.partial(privacy.load_placeholders, {str(broken)!r})
        logredact.install()
        logging.basicConfig(format="%(message)s", stream=sys.stdout, level=logging.INFO)
        logging.getLogger("x").error("numbers %s", {NUMBERS_TEXT!r})
        print("DONE")
    """)
    assert "numbers" in out and "DONE" in out
    assert not leaks(out), out
    assert "*" * 11 in out


def test_install_is_idempotent_and_keeps_the_previous_factory():
    out = run_program("""
        from bot.text import logredact
        previous = logging.getLogRecordFactory()
        logredact.install(); logredact.install()
        factory = logging.getLogRecordFactory()
        assert factory.previous is previous and not isinstance(previous, type(factory)), factory
        assert logredact.installed()
        print("OK")
    """)
    assert "OK" in out
