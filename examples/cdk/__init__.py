"""The flagship example's stack in the AWS CDK (Python)."""
