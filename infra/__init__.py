"""Infrastructure: the local stack, topic provisioning, monitoring and deployment files."""
