"""How our own tools (the console's 测试问答, the evaluation) identify themselves to the staff
channel (:mod:`bot.rasa_ext.channels.staff`), without importing Rasa.
"""

# The authenticated channel of the console and the evaluation (bot/rasa_ext/channels/staff.py).
STAFF_CHANNEL = "staff"


def bearer_header(token: str) -> dict[str, str]:
    """The header our tools send to the staff channel."""
    return {"Authorization": f"Bearer {token}"}
