"""The email channel: parse, classify and thread what arrives by mail, and send replies."""
