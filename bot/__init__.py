"""E-Town work-permit assistant: gateway, services and Rasa extensions."""
