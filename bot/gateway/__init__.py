"""The aiohttp gateway: transports (WebSocket, socket.io) and routes (pages, staff console, APIs). It carries bytes
to the conversation router (bot/conversations) and does not decide what a conversation means."""
