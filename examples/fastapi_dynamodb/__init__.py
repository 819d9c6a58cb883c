"""The flagship example: a FastAPI items service on DynamoDB, deployed by template.yaml."""
