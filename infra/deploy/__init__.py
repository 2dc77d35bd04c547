"""Checking the deployment files (Helm chart, KEDA objects) without a cluster."""
