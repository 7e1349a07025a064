"""The request lifecycle's pure decisions and the admission queue's order."""
