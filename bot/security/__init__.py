"""What the channels and the console share to keep callers honest: rate limits, client addresses, the staff channel's credentials."""
