"""The unlocked session: the agent that holds the master key between commands and its client.
It imports the primitives only.
"""
