"""globaltables: the helper library behind the DynamoDB global tables runbook."""

__version__ = "0.1.0"
