"""`stackdrill train`: a live stack with traffic, faults on demand and a dashboard for a room."""
