"""The audit log: admin and security actions, who did them, to what, and when."""
