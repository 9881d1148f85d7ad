"""Partners' answers to requests: drafts, submission with a signed receipt, and review."""
