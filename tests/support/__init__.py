"""Stand-ins, clients and factories the tests share; no test module imports another."""
