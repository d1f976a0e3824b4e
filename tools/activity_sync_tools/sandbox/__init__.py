"""Stateful local emulators of the HubSpot and Salesforce API subsets the service uses."""
