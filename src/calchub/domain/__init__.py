"""Pure rules of calchub: no I/O, and no imports from the rest of the package."""
