"""The instruction recipes : Self-Instruct and Alpaca, and their shared parts."""
