"""AWS Backup pieces moto lacks: backup selections, on-demand DynamoDB backup jobs, recovery points."""
