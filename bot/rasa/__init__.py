"""Rasa plumbing: the input channel, the endpoints derived from settings, the tracker store, the server start-up
patch, the action server, training and the generation of training data from knowledge/."""
