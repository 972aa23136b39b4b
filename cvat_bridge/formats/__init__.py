"""Format writers, tweaks and the format registry."""
