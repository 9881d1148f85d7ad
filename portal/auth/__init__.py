"""Sign-in, sessions, roles and the policy that says who may do what."""
