"""What every part of the assistant shares: settings read from the environment, the one error type services raise,
and Chinese working days."""
