"""Domain services: aliases, workspaces and tokens, permissions, audit, quota. No Slack here."""
