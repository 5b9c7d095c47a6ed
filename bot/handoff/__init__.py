"""Handing a conversation to staff: tickets, office hours, staff accounts, notifications, the guide-gaps report."""
