"""Conversations: the router that checks, stores and delivers every message (to Rasa or staff), the domain events
of conversations and tickets with the one publisher that sends them to the hub, and the transcript itself."""
