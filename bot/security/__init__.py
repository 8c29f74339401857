"""What the channels and the console share to keep callers honest.

That is rate limits, client addresses and the staff channel's credentials.
"""
