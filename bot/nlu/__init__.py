"""Rasa NLU graph components of the project (registered with Rasa's default recipe on import)."""
