"""Use cases shared by the API and the pages. Each takes a session and never commits."""
