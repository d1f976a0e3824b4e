"""HubSpot <-> Salesforce activity sync: the code the Lambda layer ships."""
