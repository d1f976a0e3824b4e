"""Tools beside the product: sandboxes, the Docker-less local runtime and the CLI."""
