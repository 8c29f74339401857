"""The application database: feedback, staff accounts and reviews, the audit log, refusal counts."""
