"""Slack layer: parse, authorize, render. Domain work is delegated to bot.services."""
