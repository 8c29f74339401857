"""How our own tools identify themselves to the staff channel, without importing Rasa.

The tools are the console's 测试问答 and the evaluation; the channel is
:mod:`bot.rasa_ext.channels.staff`.
"""

# The authenticated channel of the console and the evaluation (bot/rasa_ext/channels/staff.py).
STAFF_CHANNEL = "staff"


def bearer_header(token: str) -> dict[str, str]:
    """The header our tools send to the staff channel."""
    return {"Authorization": f"Bearer {token}"}
