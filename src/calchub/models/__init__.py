"""ML models beside the calculations: packages, the scaffold that writes one, and the
runtimes that run them (a process on a port calchub assigns, or a container).

Nothing here touches the database: the server's services decide, these modules act.
"""
