"""The pilot's figures and what they are computed from: openings, answers outside the portal
and partners' feedback (docs/pilot.md)."""
