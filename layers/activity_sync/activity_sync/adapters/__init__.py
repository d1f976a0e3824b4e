"""Adapters: everything that talks to HubSpot, Salesforce, DynamoDB or SQS."""
