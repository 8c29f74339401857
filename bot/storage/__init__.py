"""The application database: residents' feedback, staff accounts and sessions, staff reviews."""
