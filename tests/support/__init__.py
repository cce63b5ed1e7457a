"""Helpers the tests share: starting real servers on free ports."""
