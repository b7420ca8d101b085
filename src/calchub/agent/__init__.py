"""The site agent: one process per compute site, speaking to the server only over HTTP."""
