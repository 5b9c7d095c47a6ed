"""The aiohttp gateway: owns browser connections, routes messages to Rasa or staff, serves pages and APIs."""
