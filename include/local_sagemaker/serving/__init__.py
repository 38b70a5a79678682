"""Endpoints: one loopback inference process per variant instance, and the router in front of them."""
