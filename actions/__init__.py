"""Rasa custom actions. Thin by design: read the tracker, call one service in `bot/`, send the result."""
