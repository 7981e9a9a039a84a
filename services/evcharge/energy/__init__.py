"""Energy service: the site's current limit shared between connectors."""
