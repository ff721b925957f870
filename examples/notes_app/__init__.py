"""A small notes app used by the example test suite and the screenshot script."""
