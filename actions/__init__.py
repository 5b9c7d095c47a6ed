"""Rasa custom actions. Thin by design: read the tracker, call one service in `bot/`, send the result."""

from bot.guide.reload import start_from_environment

# The action server serves answer-text edits in knowledge/ within seconds, without a retrain (see bot/guide/reload).
start_from_environment()
