"""The web pages: server-rendered HTML (Jinja2 + HTMX) over the same services as the API.

A page never runs its own query and never shows a button its viewer may not
press: it asks the services, with the same ``Caller`` and the same permission
table as the API.
"""
