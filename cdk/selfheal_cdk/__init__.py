"""CDK app for selfheal. Keep this import-free: the local runtime imports `spec` without aws_cdk."""
