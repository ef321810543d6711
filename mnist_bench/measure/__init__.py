"""What is measured and how: clocks, the drift canary, FLOP counts, machine and device facts."""
