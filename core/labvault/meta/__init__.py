"""What the server is: /info and the health probes."""
