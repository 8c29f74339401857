"""Rasa input channels (REST, staff, WeChat) and the guard they share.

Light names our own tools need without importing Rasa are here.
"""

# The authenticated channel of the console and the evaluation (bot/channels/staff.py).
STAFF_CHANNEL = "staff"


def bearer_header(token: str) -> dict[str, str]:
    """The header our tools send to the staff channel."""
    return {"Authorization": f"Bearer {token}"}
