"""Pydantic wire models shared by the server, the client and the agent."""
