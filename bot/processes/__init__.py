"""Running the assistant's processes: the supervisor behind `python -m bot run` and the state file it shares."""
