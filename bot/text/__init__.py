"""Pure text functions: normalising, redaction of personal numbers, JSON bodies within limits, log redaction."""
