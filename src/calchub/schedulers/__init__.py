"""Batch schedulers without I/O: scripts to write and output to read; shared by server and agent."""
