"""Software-in-the-loop: a private bus and every service with the simulated board."""
