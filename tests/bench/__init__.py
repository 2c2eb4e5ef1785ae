"""Quota Bot's benchmark suite: `python -m tests.bench all|request|burst|digest|memory`.

Everything runs on loopback in separate processes (the bot as `quota-bot serve`, the floors,
the Slack and Ace Data Cloud stand-ins, the load generator). See tests/bench/README.md.
No module here is named `test_*`: pytest does not collect the benchmark.
"""
