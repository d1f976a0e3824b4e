"""The fault suite (``make chaos``): the service under vendor faults, duplicate deliveries, killed
workers and a small API budget, accounted activity by activity (``suite``, ``accounting``)."""
