"""Conversations and their transcript: the gateway's record of everything said, stored before it is acknowledged."""
