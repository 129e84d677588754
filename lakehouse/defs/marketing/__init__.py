"""The marketing domain: Google Analytics and Salesforce -> lake -> warehouse projections."""
