"""Notifications by email: messages rendered from facts (``messages``) and sent over SMTP (``smtp``)."""
